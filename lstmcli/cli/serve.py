"""``lstmcli serve``: predictions over HTTP from a trained run (the optional ``serve`` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import RunDirOpt

HostOpt = Annotated[
    str, typer.Option("--host", help="Address to listen on; 0.0.0.0 for every interface (anyone who can reach it).")
]
PortOpt = Annotated[int, typer.Option("--port", "-p", help="TCP port; 0 picks a free one.")]
BodyOpt = Annotated[int, typer.Option("--max-body-bytes", help="Largest request body.")]
TextsOpt = Annotated[int, typer.Option("--max-texts", help="Most texts in one request.")]
CharsOpt = Annotated[int, typer.Option("--max-text-chars", help="Most characters in one text.")]
WaitOpt = Annotated[float, typer.Option("--batch-wait-ms", help="How long an idle server waits for more requests.")]
BatchOpt = Annotated[
    int, typer.Option("--max-batch", help="Most texts labelled in one batch (a larger request runs alone).")
]
LogOpt = Annotated[bool, typer.Option("--access-log", help="Log every request on stderr.")]


@command
def serve(
    run_dir: RunDirOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    max_body_bytes: BodyOpt = 1 << 20,
    max_texts: TextsOpt = 1024,
    max_text_chars: CharsOpt = 10_000,
    batch_wait_ms: WaitOpt = 3.0,
    max_batch: BatchOpt = 256,
    access_log: LogOpt = False,
) -> None:
    """Serve predictions over HTTP: POST /predict, GET /health, GET /info, POST /reload, docs at /docs.

    The run is loaded once; requests that arrive together are labelled in one batch. SIGTERM lets the
    requests in flight finish, then exits.

    Example: lstmcli serve -r my-run --port 8000
    """
    from lstmcli.serve import require_packages

    require_packages()
    from lstmcli.serve.app import Limits
    from lstmcli.serve.batcher import Batching
    from lstmcli.serve.server import serve_run
    from lstmcli.workflow import run_dir_of

    limits, batching = Limits(max_body_bytes, max_texts, max_text_chars), Batching(batch_wait_ms, max_batch)
    serve_run(run_dir_of(run_dir), host, port, limits, batching, access_log)
