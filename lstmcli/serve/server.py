"""Running the app under uvicorn: a socket bound first (so the address is known), a drain on SIGTERM."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmcli.errors import ConfigError

if TYPE_CHECKING:
    from lstmcli.serve.settings import Batching, Limits

DRAIN_SECONDS = 30  # on SIGTERM, requests in flight get this long to finish before the server stops anyway


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises:
        ConfigError: the address cannot be bound (in use, not this machine's, or a port that needs root).
    """
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP. Without it,
        # a response's headers and body, written apart, wait out the client's delayed ACK (40 ms a request).
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(where)
        sock.listen(2048)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port} ({reason}); pass another --port or --host") from None
    return sock


def address(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(app: Any, sock: socket.socket, access_log: bool = False) -> None:
    """Serves ``app`` on ``sock`` until SIGTERM or Ctrl-C; returns once the requests in flight are answered.

    uvicorn stops accepting connections on SIGTERM, lets the requests in flight finish (at most
    ``DRAIN_SECONDS``), runs the app's shutdown, and then raises the signal again for the previous handler:
    ours ignores it, so the process ends with status 0 rather than being killed by the signal.
    """
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        timeout_graceful_shutdown=DRAIN_SECONDS,
        lifespan="on",
    )
    previous = signal.signal(signal.SIGTERM, _drained)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


def _drained(signum: int, frame: Any) -> None:
    """The SIGTERM that uvicorn raises again after its drain: nothing is left to do."""


def serve_run(
    path: Path,
    host: str,
    port: int,
    limits: Limits,
    batching: Batching,
    access_log: bool,
    decision: dict[str, Any] | None = None,
) -> None:
    """Serves the run in ``path`` on ``host:port``, saying where on stderr, until SIGTERM or Ctrl-C."""
    from lstmcli.serve import create_app

    app = create_app(path, limits, batching, decision)
    sock = bind(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Warning: listening on {host}: anyone who can reach this machine can use the model", file=sys.stderr)
    where = address(sock)
    print(f"Serving {path} on {where} (API docs at {where}/docs); SIGTERM or Ctrl-C stops", file=sys.stderr)
    run(app, sock, access_log)
