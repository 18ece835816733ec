"""Prediction speed when the recurrent network takes part, beside the n-gram-only model and fastText.

For sst2 (short texts) and ag_news (long ones) it trains, once, three lstmcli runs on ``train.csv``:

- ``default``: the default settings (its published blend may give the LSTM no weight; the table says);
- ``lstm``: ``--ngram-buckets 0``, the recurrent network alone: its recurrent part is always published;
- ``ngrams``: ``--epochs 1``, the n-gram classifier's first stage alone (the LSTM never trains);

and fastText (``bench/peers.py``'s settings). On a file of up to 20,000 distinct texts of the corpus it
measures ``lstmcli predict FILE`` end to end (a whole process: start-up, reading, labelling, writing), the
Predictor in-process with each engine (``bench/predictor_speed.py``), the cold ``echo text | lstmcli predict``
(median of 5), ``explain --method occlusion`` on a 40-token text in-process, fastText's ``predict`` on the same
texts in-process, and ``predict FILE`` split per stage (``bench/predict_stages.py``).

Usage: .venv/bin/python bench/predict_speed.py [--corpora sst2,ag_news] [--write-results]
Writes bench/work/predict/results.json; ``--write-results`` also writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_and_load, is_chinese, publish, read_corpus  # noqa: E402
from run import _distinct_texts, _write_lines, run_child  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = ROOT / "bench" / "work" / "predict"
CLI = [sys.executable, "-m", "lstmcli"]
RUNS = {"default": [], "lstm": ["--ngram-buckets", "0"], "ngrams": ["--epochs", "1"]}
TEXTS = 20_000


def _train(corpus: str, name: str) -> Path:
    run_dir = WORK / "runs" / corpus / name
    if not (run_dir / "weights.npz").is_file():
        child = run_child(
            [*CLI, "train", str(DATASETS / corpus / "train.csv"), "-r", str(run_dir), "--overwrite", *RUNS[name]], 7200
        )
        if child.rc:
            raise RuntimeError(f"training {corpus}/{name} failed: {child.stderr.strip().splitlines()[-1:]}")
    return run_dir


def _lstm_weight(run_dir: Path) -> float | None:
    record = json.loads((run_dir / "training.json").read_text(encoding="utf-8"))
    return record.get("lstm_weight")


def _end_to_end(run_dir: Path, texts: Path, lines: int) -> float:
    out = WORK / "predictions.tsv"
    child = run_child([*CLI, "predict", str(texts), "-r", str(run_dir)], 600, out)
    if child.rc or sum(1 for _ in out.open(encoding="utf-8")) != lines:
        raise RuntimeError(f"predict failed: {child.stderr.strip().splitlines()[-1:]}")
    return lines / child.wall


def _in_process(run_dir: Path, texts: Path, engine: str) -> float:
    script = ROOT / "bench" / "predictor_speed.py"
    child = run_child([sys.executable, str(script), str(run_dir), str(texts), "--engine", engine], 600)
    return float(child.last_json()["texts_per_second"])


def _stages(run_dir: Path, texts: Path) -> dict[str, Any]:
    """``bench/predict_stages.py``'s split of ``predict FILE`` per stage."""
    script = ROOT / "bench" / "predict_stages.py"
    return dict(run_child([sys.executable, str(script), str(run_dir), str(texts)], 900).last_json())


def _cold(run_dir: Path) -> float:
    command = f"echo 'a gorgeous, witty, seductive movie' | {shlex.join(CLI)} predict -r {shlex.quote(str(run_dir))}"
    return statistics.median(run_child(command, 120).wall for _ in range(5))


def _occlusion(run_dir: Path, text: str) -> float:
    code = (
        "import sys, time; from lstmcli.explain import explain_texts as ex; from lstmcli.predictor import Predictor; "
        "from lstmcli.rundir import RunDir; p = Predictor(RunDir(sys.argv[1])); list(ex(p, [sys.argv[2]], 'occlusion')); "
        "t = time.perf_counter(); [list(ex(p, [sys.argv[2]], 'occlusion')) for _ in range(5)]; "
        "print((time.perf_counter() - t) / 5)"
    )
    child = run_child([sys.executable, "-c", code, str(run_dir), text], 300)
    return float(child.stdout.strip().splitlines()[-1]) if child.rc == 0 else float("nan")


def _fasttext(corpus: str, texts: Path) -> float:
    code = (
        "import sys, time; sys.path.insert(0, 'bench'); import fasttext, os, tempfile; "
        "from common import read_corpus, is_chinese; from peers import fasttext_text; "
        "x, y = read_corpus(sys.argv[1]); zh = is_chinese(x); f = tempfile.mktemp(); "
        "open(f, 'w').write(''.join(f'__label__{l.replace(chr(32), chr(95))} {fasttext_text(t, zh)}' + chr(10) for t, l in zip(x, y))); "
        "m = fasttext.train_supervised(f, wordNgrams=2, epoch=25, verbose=0, thread=2); "
        "lines = [fasttext_text(t, zh) for t in open(sys.argv[2]).read().splitlines()]; "
        "t = time.perf_counter(); m.predict(lines, k=1); print(len(lines) / (time.perf_counter() - t))"
    )
    child = run_child([sys.executable, "-c", code, str(DATASETS / corpus / "train.csv"), str(texts)], 600)
    return float(child.stdout.strip().splitlines()[-1]) if child.rc == 0 else float("nan")


def _forty_tokens(corpus: str) -> str:
    texts, _ = read_corpus(DATASETS / corpus / "test.csv")
    words = " ".join(texts).split()
    return " ".join(words[:40]) if not is_chinese(texts) else "".join(words)[:40]


def measure(corpus: str) -> dict[str, Any]:
    texts = WORK / f"{corpus}.txt"
    lines = _write_lines(texts, _distinct_texts(DATASETS / corpus, TEXTS))
    result: dict[str, Any] = {"texts": lines, "runs": {}, "fasttext_in_process": round(_fasttext(corpus, texts))}
    for name in RUNS:
        run_dir = _train(corpus, name)
        result["runs"][name] = {
            "lstm_weight": _lstm_weight(run_dir),
            "end_to_end": round(_end_to_end(run_dir, texts, lines)),
            **{f"in_process_{e}": round(_in_process(run_dir, texts, e)) for e in ("numpy", "onnx")},
            "cold": round(_cold(run_dir), 3),
            "occlusion_40_tokens": round(_occlusion(run_dir, _forty_tokens(corpus)), 4),
            "stages": _stages(run_dir, texts),
        }
        print(corpus, name, json.dumps(result["runs"][name]), file=sys.stderr, flush=True)
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Prediction speed with the recurrent network (bench/predict_speed.py)",
        "",
        f"{command_and_load(results)} Texts/s on up to {TEXTS:,} distinct texts of each corpus. "
        "`lstm weight`: the weight of the LSTM's logits in the published model (None: no n-gram part; 0: the "
        "LSTM does not run).",
        "",
        "| corpus | run | lstm weight | `predict FILE` end to end | in-process NumPy | in-process ONNX Runtime | "
        "cold `echo \\| predict` (s) | occlusion, 40 tokens (s) | fastText in-process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for corpus, r in results["corpora"].items():
        for name, m in r["runs"].items():
            lines.append(
                f"| {corpus} | {name} | {m['lstm_weight']} | {m['end_to_end']:,} | {m['in_process_numpy']:,} | "
                f"{m['in_process_onnx']:,} | {m['cold']} | {m['occlusion_40_tokens']} | {r['fasttext_in_process']:,} |"
            )
    lines += ["", "Per stage (`bench/predict_stages.py`, texts/s of each stage alone, in-process):", ""]
    lines += [
        "| corpus | run | engine | read | tokenize+encode | network | format+write | end to end |",
        "|---" * 8 + "|",
    ]
    for corpus, r in results["corpora"].items():
        for name, m in r["runs"].items():
            rate = m["stages"]["texts_per_second"]
            lines.append(
                f"| {corpus} | {name} | {m['stages']['engine']} | {rate['read']:,} | {rate['tokenize+encode']:,} | "
                f"{rate['network']:,} | {rate['format+write']:,} | {m['stages']['end_to_end_texts_per_second']:,} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="sst2,ag_news")
    parser.add_argument("--write-results", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": "python bench/predict_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "corpora": {c: measure(c) for c in args.corpora.split(",")},
        "load_end": os.getloadavg(),
    }
    publish(results, WORK / "results.json", markdown(results), "bench/predict_speed.py", args.write_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
