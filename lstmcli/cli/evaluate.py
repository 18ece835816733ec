"""``lstmcli evaluate``: loss, accuracy, macro-F1, per-class scores and the confusion matrix of a trained run."""

from __future__ import annotations

from lstmcli.cli.app import command
from lstmcli.cli.options import Options, with_options


@command
@with_options(
    "run_dir data encoding as_json plots text_column label_column input_format header threshold top_k min_labels"
)
def evaluate(*, opts: Options) -> None:
    """Report loss, accuracy, macro-F1, per-class scores and the confusion matrix (multi-label: micro-F1 and more).

    Scores the run's validation part, or another table preprocessed with the run's saved settings.

    Example: lstmcli evaluate --data test.csv --json
    """
    from lstmcli import workflow
    from lstmcli.ui.console import print_json
    from lstmcli.ui.display import show_metrics, show_plots
    from lstmcli.ui.plots import evaluation_figures

    table = opts.picked("text_column label_column input_format header")
    decision = opts.picked("top_k threshold min_labels")  # a multi-label run's; its trained thresholds by default
    metrics = workflow.evaluate(opts.run_dir, opts.data, opts.encoding or "auto", decision=decision, **table)
    if opts.as_json:
        print_json(metrics)
    else:
        show_metrics(metrics)
    if opts.plots:
        run = opts.run()
        record = run.read_training()
        figures = evaluation_figures(metrics, run.read_history(), record.best_epoch if record else None)
        show_plots(run.write_figures(figures), metrics["labels"])
