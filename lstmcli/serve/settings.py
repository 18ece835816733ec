"""What ``lstmcli serve`` may take and how it batches: the limits and batching settings, their defaults written
once here (the CLI's options take theirs from these). No FastAPI: the CLI imports this module for ``--help``."""

from __future__ import annotations

from dataclasses import dataclass

from lstmcli.errors import ConfigError


@dataclass(frozen=True)
class Limits:
    """What one request may hold; a request over a limit is answered 413 naming it."""

    max_body_bytes: int = 1 << 20  # the request body, in bytes
    max_texts: int = 1024  # texts in one request
    max_text_chars: int = 10_000  # characters in one text

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_texts", "max_text_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1; received {getattr(self, name)}")


@dataclass(frozen=True)
class Batching:
    """How requests are gathered into batches."""

    max_wait_ms: float = 3.0  # an idle lane waits at most this long for more requests (see MicroBatcher)
    max_batch: int = 256  # texts per batch; a request with more texts runs alone, whole

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ConfigError(f"--max-batch must be at least 1; received {self.max_batch}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"--batch-wait-ms must be 0 or more; received {self.max_wait_ms}")
