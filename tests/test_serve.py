"""``lstmcli serve``: real server processes on 127.0.0.1, driven by a real HTTP client."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir, locked

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

TEXTS = [
    "The goal won the match for the team",
    "rain and storm all week",
    "",
    "bake the flour in the oven",
    "Überraschung 😀 coach",
    "   ",
    "snow",
]


class Server:
    """One ``lstmcli serve`` subprocess on a free port; stderr is collected in the background."""

    def __init__(self, run_dir: Path, *args: str) -> None:
        command = [sys.executable, "-m", "lstmcli", "serve", "-r", str(run_dir), "--port", "0", *args]
        self.proc = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=os.environ.copy()
        )
        assert self.proc.stderr is not None
        self.lines: list[str] = []
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("Serving "):
                self.url = line.split(" on ")[1].split(" ")[0]
                break
        else:
            raise AssertionError(f"the server did not start: {''.join(self.lines)}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        self.lines.extend(self.proc.stderr)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def start(trained_run: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def _start(*args: str, run_dir: Path = trained_run) -> Server:
        servers.append(Server(run_dir, *args))
        return servers[-1]

    yield _start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def shared(trained_run: Path) -> Iterator[Server]:
    server = Server(trained_run, "--max-texts", "3", "--max-text-chars", "40", "--max-body-bytes", "400")
    yield server
    server.stop()


def test_rows_are_predict_jsonl_rows_byte_for_byte(start: Any, trained_run: Path, tmp_path: Path) -> None:
    server = start()  # a fresh server: its first batch is predict's batch, so the floats are the same bits
    response = httpx.post(f"{server.url}/predict", json={"texts": TEXTS, "top_k": 2})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    engine = httpx.get(f"{server.url}/info").json()["engine"]  # a server starts in ONNX Runtime when it can
    assert engine in ("numpy", "onnx")
    result = CliRunner().invoke(
        app,
        ["predict", str(tmp_path / "in.txt"), "-r", str(trained_run), "--format", "jsonl", "--top-k", "2"],
        env={"LSTMCLI_ENGINE": engine},
    )
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and len(lines) == len(TEXTS)
    assert response.text == '{"predictions": [' + ", ".join(lines) + "]}"
    rows = response.json()["predictions"]
    assert rows[2]["empty"] and rows[5]["empty"] and rows[0]["label"] == "sports"
    one = httpx.post(f"{server.url}/predict", json={"text": TEXTS[0], "top_k": 2}).json()["predictions"]
    assert one == [json.loads(lines[0])]


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        (b'{"texts": ["a"', 400, "invalid_json", "not valid JSON"),
        (b"\xff\xfe\x00", 400, "invalid_json", "not valid JSON"),
        (b"", 400, "invalid_json", "not valid JSON"),
        (b'["a", "b"]', 422, "invalid_request", "valid dictionary"),
        (b'{"texts": "one text"}', 422, "invalid_request", "texts: Input should be a valid list"),
        (b'{"texts": ["a", 5]}', 422, "invalid_request", "texts.1: Input should be a valid string"),
        (b'{"texts": []}', 422, "invalid_request", "'texts' is empty"),
        (b'{"texts": null}', 422, "invalid_request", "exactly one of 'text'"),
        (b'{"text": "a", "texts": ["b"]}', 422, "invalid_request", "exactly one of 'text'"),
        (b'{"top_k": 2}', 422, "invalid_request", "exactly one of 'text'"),
        (b'{"text": "a", "top_k": 0}', 422, "invalid_request", "top_k: Input should be greater than or equal to 1"),
        (b'{"text": "a", "top_k": "2"}', 422, "invalid_request", "top_k: Input should be a valid integer"),
        (b'{"text": "a", "top_k": true}', 422, "invalid_request", "top_k: Input should be a valid integer"),
        (b'{"txt": "a"}', 422, "invalid_request", "txt: Extra inputs are not permitted"),
    ],
)
def test_bad_requests_get_a_json_4xx(shared: Server, body: bytes, status: int, code: str, says: str) -> None:
    response = httpx.post(f"{shared.url}/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and says in error["message"], error


def test_unknown_routes_and_methods_are_json_errors(shared: Server) -> None:
    assert httpx.get(f"{shared.url}/nowhere").json()["error"]["code"] == "not_found"
    response = httpx.get(f"{shared.url}/predict")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("payload", "limit"),
    [
        ({"texts": ["a", "b", "c", "d"]}, "max_texts"),
        ({"texts": ["short", "x" * 41]}, "max_text_chars"),
        ({"text": "word " * 100}, "max_body_bytes"),
    ],
)
def test_limits_answer_413_naming_the_limit(shared: Server, payload: dict[str, Any], limit: str) -> None:
    response = httpx.post(f"{shared.url}/predict", json=payload)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["limit"] == limit and f"--{limit.replace('_', '-')}" in error["message"]
    assert httpx.post(f"{shared.url}/predict", json={"texts": ["a", "b", "c"]}).status_code == 200


def test_body_limit_holds_without_content_length(shared: Server) -> None:
    def chunks() -> Iterator[bytes]:  # a chunked upload: the server cannot know the size in advance
        yield b'{"text": "'
        for _ in range(50):
            yield b"word word "
        yield b'"}'

    response = httpx.post(f"{shared.url}/predict", content=chunks())
    assert response.status_code == 413 and response.json()["error"]["limit"] == "max_body_bytes"


def test_a_client_that_sends_the_whole_oversized_body_first_gets_its_413(start: Any) -> None:
    """urllib writes all 20 MB before it reads: the server reads the rest of the body, then answers 413."""
    import urllib.error
    import urllib.request

    server = start()  # the default limit: 1 MiB
    body = json.dumps({"text": "word " * 4_000_000}).encode()
    request = urllib.request.Request(f"{server.url}/predict", body, {"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 413
    assert json.loads(caught.value.read())["error"]["limit"] == "max_body_bytes"
    small = urllib.request.Request(f"{server.url}/predict", b'{"text": "goal"}', {"Content-Type": "application/json"})
    with urllib.request.urlopen(small, timeout=60) as response:
        assert response.status == 200


def test_health_info_and_docs(shared: Server, trained_run: Path) -> None:
    assert httpx.get(f"{shared.url}/health").json() == {"status": "ok"}
    info = httpx.get(f"{shared.url}/info").json()
    assert info["labels"] == ["cooking", "sports", "weather"] and info["run_dir"] == str(trained_run.resolve())
    assert info["config"]["max_len"] > 0 and info["limits"]["max_texts"] == 3
    assert {"lstmcli", "numpy", "fastapi", "uvicorn"} <= set(info["versions"])
    assert httpx.get(f"{shared.url}/docs").status_code == 200
    schema = httpx.get(f"{shared.url}/openapi.json").json()
    assert {"/predict", "/health", "/info", "/reload"} <= set(schema["paths"])


def test_concurrent_clients_lose_no_request(start: Any, trained_run: Path) -> None:
    server = start()
    predictor = Predictor(RunDir(trained_run))
    requests = [[f"{word} number {i}" for word in ("goal", "rain storm", "bake")[: 1 + i % 3]] for i in range(240)]

    def send(texts: list[str]) -> list[dict[str, Any]]:
        response = client.post(f"{server.url}/predict", json={"texts": texts})
        assert response.status_code == 200
        return response.json()["predictions"]

    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=16)) as client:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(send, requests))
    for texts, rows in zip(requests, answers):  # merged batches may differ from one text alone in the last bit
        expected = predictor.proba(texts)
        got = np.array([[row["probabilities"][label] for label in predictor.labels] for row in rows])
        np.testing.assert_allclose(got, expected, atol=1e-6)
    stats = httpx.get(f"{server.url}/info").json()["stats"]
    assert stats["requests"] == len(requests) and stats["texts"] == sum(map(len, requests))
    assert stats["batches"] < len(requests)  # concurrent requests were batched together


def test_an_idle_batcher_waits_for_company_until_the_last_batchs_clients_are_back(trained_run: Path) -> None:
    """Clients that send again once answered are all back when as many requests are queued as the last batch
    answered: the batch starts then, not after the whole wait; the first batch, with no such count, waits it out."""
    import asyncio

    from lstmcli.serve.batcher import MicroBatcher
    from lstmcli.serve.settings import Batching

    wait_ms = 1500.0

    async def rounds() -> tuple[list[float], dict[str, Any]]:
        batcher = MicroBatcher(Predictor(RunDir(trained_run)), Batching(max_wait_ms=wait_ms))
        batcher.start()
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            answers = await asyncio.gather(*(batcher.predict([f"goal {i}", "rain"], None) for i in range(4)))
            seconds.append(time.perf_counter() - started)
            assert [len(rows) for rows in answers] == [2, 2, 2, 2]
        await batcher.stop()
        return seconds, batcher.stats

    seconds, stats = asyncio.run(rounds())
    assert stats["batches"] == 3 and stats["largest_batch"] == 8  # each round's four requests in one batch
    assert seconds[0] >= wait_ms / 1000  # the first batch waited for company
    assert max(seconds[1:]) < wait_ms / 1000 / 2  # the later ones started once the four were back


def test_a_request_that_arrives_while_a_batch_runs_starts_in_the_other_lane(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two batches run at once, never three; each request gets its own rows, as one batch alone would give them."""
    import asyncio

    from lstmcli.serve import batcher as module
    from lstmcli.serve.settings import Batching

    predictor = Predictor(RunDir(trained_run))
    running, most = [0], [0]
    lock = threading.Lock()
    label_jobs = module.label_jobs

    def slow_label_jobs(predictor: Predictor, jobs: list[tuple[list[str], int | None]]) -> list[list[str]]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)  # the batch's network, made long enough for the next requests to arrive meanwhile
        try:
            return label_jobs(predictor, jobs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(module, "label_jobs", slow_label_jobs)
    requests = [[f"goal team {i}", "rain storm"] for i in range(3)]

    async def send() -> tuple[list[list[str]], list[float], dict[str, Any]]:
        batcher = module.MicroBatcher(predictor, Batching(max_wait_ms=0))
        batcher.start()
        started = time.perf_counter()
        waits = []

        async def one(texts: list[str], delay: float) -> list[str]:
            await asyncio.sleep(delay)
            rows = await batcher.predict(texts, None)
            waits.append(time.perf_counter() - started)
            return rows

        answers = await asyncio.gather(*(one(texts, 0.1 * i) for i, texts in enumerate(requests)))
        await batcher.stop()
        return answers, sorted(waits), batcher.stats

    answers, waits, stats = asyncio.run(send())
    assert most[0] == 2 and stats["batches"] == 3
    assert waits[1] < 0.55  # the second request ran beside the first, not after it (0.6 s)
    assert waits[2] >= 0.6  # the third waited for a free lane
    for texts, rows in zip(requests, answers):
        assert rows == label_jobs(predictor, [(texts, None)])[0]


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(start: Any) -> None:
    server = start()
    host, port = server.url.removeprefix("http://").split(":")
    body = json.dumps({"texts": ["goal team", "rain"]}).encode()
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:10]
        )
        time.sleep(0.5)  # the server has the request and waits for the rest of its body
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None  # still draining
        with pytest.raises(OSError):  # and no longer accepting
            socket.create_connection((host, int(port)), timeout=5).close()
        conn.sendall(body[10:])
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and len(json.loads(payload)["predictions"]) == 2
    assert server.proc.wait(timeout=30) == 0


def test_reload_swaps_only_a_run_that_loads(start: Any, trained_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    server = start(run_dir=run_dir)
    texts = {"texts": ["goal team"]}
    before = httpx.post(f"{server.url}/predict", json=texts).json()["predictions"][0]

    (run_dir / "labels.json").write_text('["only one"]', encoding="utf-8")  # a damaged run: the old one stays
    response = httpx.post(f"{server.url}/reload")
    assert response.status_code == 409 and response.json()["error"]["code"] == "reload_failed"
    assert "labels.json is damaged" in response.json()["error"]["message"]
    assert httpx.post(f"{server.url}/predict", json=texts).json()["predictions"][0] == before

    (run_dir / "labels.json").write_text('["food", "sport", "sky"]', encoding="utf-8")
    with locked(run_dir):  # a training writing the run: not loaded now
        response = httpx.post(f"{server.url}/reload")
    assert response.status_code == 409 and "being written by lstmcli process" in response.json()["error"]["message"]

    response = httpx.post(f"{server.url}/reload")
    assert response.status_code == 200 and response.json()["labels"] == ["food", "sport", "sky"]
    after = httpx.post(f"{server.url}/predict", json=texts).json()["predictions"][0]
    renamed = dict(zip(json.loads((trained_run / "labels.json").read_text()), ["food", "sport", "sky"], strict=True))
    assert after["label"] == renamed[before["label"]] and after["probability"] == before["probability"]
    assert httpx.get(f"{server.url}/info").json()["reloads"] == 1


def test_run_that_cannot_load_is_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "-r", str(tmp_path / "nothing"), "--port", "0"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: run directory") and "does not exist" in result.output


def test_bad_options_are_one_error_line(trained_run: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "-r", str(trained_run), "--max-texts", "0"])
    assert result.exit_code == 1 and result.output == "Error: --max-texts must be at least 1; received 0\n"


def test_without_the_extra_serve_says_what_to_install(trained_run: Path) -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None; sys.argv = ['lstmcli', "
        f"'serve', '-r', {str(trained_run)!r}]; from lstmcli.cli import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "pip install 'lstmcli[serve]'" in result.stderr and "fastapi and uvicorn" in result.stderr


def test_serve_and_export_help_import_no_heavy_module() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from lstmcli.cli import app; r = CliRunner();"
        "outs = [r.invoke(app, [c, '--help']).exit_code for c in ('serve', 'export')];"
        "assert outs == [0, 0], outs;"
        "print(sorted(m for m in ('tensorflow', 'keras', 'fastapi', 'uvicorn', 'onnx', 'tf2onnx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ.copy()
    ).stdout
    assert out.strip() == "[]"
