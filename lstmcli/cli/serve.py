"""``lstmcli serve``: predictions over HTTP from a trained run (the optional ``serve`` extra)."""

from __future__ import annotations

from lstmcli.cli.app import command
from lstmcli.cli.options import Options, with_options


@command
@with_options(
    "run_dir host port max_body_bytes max_texts max_text_chars batch_wait_ms max_batch access_log threshold top_k "
    "min_labels"
)
def serve(*, opts: Options) -> None:
    """Serve predictions over HTTP: POST /predict, GET /health, GET /info, POST /reload, docs at /docs.

    The run is loaded once; requests that arrive together are labelled in one batch. SIGTERM lets the
    requests in flight finish, then exits.

    Example: lstmcli serve -r my-run --port 8000
    """
    from lstmcli.serve import require_packages

    require_packages()
    from lstmcli.serve.server import serve_run
    from lstmcli.serve.settings import Batching, Limits
    from lstmcli.workflow import run_dir_of

    limits = Limits(**opts.picked("max_body_bytes max_texts max_text_chars"))
    batching = Batching(opts.batch_wait_ms, opts.max_batch)
    decision = opts.picked("top_k threshold min_labels")
    serve_run(run_dir_of(opts.run_dir), opts.host, opts.port, limits, batching, opts.access_log, decision)
