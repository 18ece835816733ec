"""The HTTP API: a FastAPI app over one loaded run, its requests labelled by a :class:`MicroBatcher`.

Routes: ``POST /predict``, ``GET /health``, ``GET /info``, ``POST /reload``, and the OpenAPI docs at ``/docs``.
Every error is a JSON object ``{"error": {"code": ..., "message": ...}}`` with a 4xx status; a request that
breaks a limit is answered 413 and the error names the limit (``"limit": "max_texts"``) and its value.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import platform
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from lstmcli import __version__
from lstmcli.errors import RunDirError
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir, package_versions, writer_pid
from lstmcli.serve.batcher import MicroBatcher
from lstmcli.serve.settings import Batching, Limits

# What /info shows of the run's config: the settings that say how text becomes ids and what the network is.
CONFIG_SUMMARY = (
    "preset",
    "tokenizer",
    "lowercase",
    "max_len",
    "padding",
    "truncating",
    "embedding_dim",
    "units",
    "cell",
    "bidirectional",
    "mask",
    "pooling",
    "ngram_buckets",
    "ngram_order",
    "ngram_mode",
    "dense_units",
)


# A refused body is still read (and dropped) up to this size and for this long, so that the client reads the 413.
LINGER_BYTES, LINGER_SECONDS = 64 << 20, 10.0


@dataclass(frozen=True)
class Model:
    """What the server answers from: the loaded predictor and what ``/info`` says about its run."""

    predictor: Predictor
    about: dict[str, Any]


def load_run(path: Path, decision: dict[str, Any] | None = None) -> Model:
    """Loads the run directory ``path`` whole into a new :class:`Predictor`.

    Raises:
        RunDirError: a training or prepare is writing the run now, or the run is missing or damaged.
        LstmcliError: any other reason :class:`Predictor` cannot load it.
    """
    holder = writer_pid(path)
    if holder is not None:
        raise RunDirError(
            f"run directory {path} is being written by lstmcli process {holder}; load it again once that has finished"
        )
    run = RunDir(path)
    predictor = Predictor(run)
    predictor.decider = predictor.decider.with_options(**(decision or {}))  # serve's --threshold, --top-k, ...
    predictor.warm_up()  # a server runs long enough to repay an ONNX Runtime session before its first request
    trained_with = run.read_manifest().get("versions", {})
    return Model(predictor, {"run_dir": str(path.resolve()), "trained_with": trained_with})


class PredictRequest(BaseModel):
    """``POST /predict``'s body: ``texts`` (a list) or ``text`` (one string), and ``top_k``."""

    model_config = ConfigDict(extra="forbid")
    texts: Optional[list[StrictStr]] = Field(
        None,
        description="Texts to label, answered in this order.",
        examples=[["my card was charged twice", "the app crashes"]],
    )
    text: Optional[StrictStr] = Field(None, description="One text to label (instead of texts).")
    top_k: Optional[StrictInt] = Field(
        None,
        ge=1,
        description="With 2 or more, each result lists the k most probable labels; a multi-label run's results "
        "have at most k labels [default: 1; multi-label: the server's --top-k].",
    )


class ApiError(Exception):
    """An answer with a 4xx status and a JSON error body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"code": self.code, "message": self.message, **self.extra}}, self.status)


class _State:
    """The model being served, swapped whole by a reload."""

    def __init__(self, load: Callable[[], Model], batching: Batching) -> None:
        self.load = load
        self.model = load()
        self.loaded_at = time.time()
        self.reloads = 0
        self.batcher = MicroBatcher(self.model.predictor, batching)
        self.reload_lock = asyncio.Lock()

    def swap(self, model: Model) -> None:
        self.batcher.swap(model.predictor)
        self.model, self.loaded_at, self.reloads = model, time.time(), self.reloads + 1


def build_app(load: Callable[[], Model], limits: Limits = Limits(), batching: Batching = Batching()) -> FastAPI:
    """The FastAPI app serving the model ``load`` returns; ``POST /reload`` calls ``load`` again.

    ``load`` runs once here, so a run that cannot be loaded raises before anything listens.

    Raises:
        LstmcliError: from ``load``.
    """
    state = _State(load, batching)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.batcher.start()
        yield
        await state.batcher.stop()  # uvicorn calls this once the requests in flight are answered

    app = FastAPI(
        title="lstmcli",
        version=__version__,
        lifespan=lifespan,
        description="Labels texts with a trained lstmcli run. Answers are `predict --format jsonl`'s rows.",
    )
    _add_error_handlers(app)
    _add_predict(app, state, limits)
    _add_service_routes(app, state, limits, batching)
    return app


def _add_predict(app: FastAPI, state: _State, limits: Limits) -> None:
    body_schema = {"content": {"application/json": {"schema": PredictRequest.model_json_schema()}}, "required": True}

    @app.post(
        "/predict",
        openapi_extra={"requestBody": body_schema},
        responses={200: {"description": '`{"predictions": [row, ...]}`, one row per text, in order'}},
    )
    async def predict(request: Request) -> Response:
        """Labels `texts` (or one `text`): each row is what `lstmcli predict --format jsonl` writes for it."""
        texts, top_k = await _parse_predict(request, limits)
        rows = await state.batcher.predict(texts, top_k)
        return Response('{"predictions": [' + ", ".join(rows) + "]}", media_type="application/json")


def _add_service_routes(app: FastAPI, state: _State, limits: Limits, batching: Batching) -> None:
    @app.get("/health")
    async def health() -> dict[str, str]:
        """`{"status": "ok"}` while the server answers."""
        return {"status": "ok"}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """The labels, the run's settings, versions, limits and counters."""
        predictor = state.model.predictor
        config = dataclasses.asdict(predictor.config)
        return {
            "labels": predictor.labels,
            **state.model.about,
            "config": {key: config[key] for key in CONFIG_SUMMARY},
            "network": "n-gram classifier alone" if predictor.network.lstm_silent else "full",
            "engine": predictor.engine_in_use,  # numpy or onnx (ONNX Runtime)
            "loaded_at": state.loaded_at,
            "reloads": state.reloads,
            "versions": serving_versions(),
            "limits": dataclasses.asdict(limits),
            "batching": dataclasses.asdict(batching),
            "stats": state.batcher.stats,
        }

    @app.post("/reload", responses={409: {"description": "the run could not be loaded; the old model still serves"}})
    async def reload() -> JSONResponse:
        """Loads the run directory again into a new model and swaps it in only if loading succeeded."""
        async with state.reload_lock:
            try:
                model = await asyncio.to_thread(state.load)
            except Exception as exc:  # whatever failed, the old model keeps serving
                message = str(exc) if str(exc) else type(exc).__name__
                raise ApiError(
                    409, "reload_failed", f"{message}; still serving the model loaded at {_timestamp(state.loaded_at)}"
                ) from None
            state.swap(model)
        return JSONResponse(
            {"reloaded": True, "labels": model.predictor.labels, "loaded_at": state.loaded_at, "reloads": state.reloads}
        )


async def _parse_predict(request: Request, limits: Limits) -> tuple[list[str], int | None]:
    """The texts and ``top_k`` of a predict request; raises ApiError for anything else."""
    body = await _read_body(request, limits.max_body_bytes)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ApiError(
            400, "invalid_json", f'the body is not valid JSON ({exc}); send e.g. {{"texts": ["a text"]}}'
        ) from None
    try:
        parsed = PredictRequest.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", _validation_message(exc)) from None
    if (parsed.text is None) == (parsed.texts is None):
        raise ApiError(422, "invalid_request", "send exactly one of 'text' (a string) or 'texts' (a list of strings)")
    texts = [parsed.text] if parsed.text is not None else parsed.texts or []
    if not texts:
        raise ApiError(422, "invalid_request", "'texts' is empty; send at least one text")
    if len(texts) > limits.max_texts:
        raise ApiError(
            413,
            "limit_exceeded",
            f"the request holds {len(texts)} texts; at most {limits.max_texts} are allowed per request (--max-texts)",
            limit="max_texts",
            max=limits.max_texts,
        )
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    if len(texts[longest]) > limits.max_text_chars:
        raise ApiError(
            413,
            "limit_exceeded",
            f"text {longest} holds {len(texts[longest])} characters; at most "
            f"{limits.max_text_chars} are allowed (--max-text-chars)",
            limit="max_text_chars",
            max=limits.max_text_chars,
        )
    return texts, parsed.top_k


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, read no further than ``limit`` bytes (ApiError 413 beyond it)."""
    too_large = ApiError(
        413,
        "limit_exceeded",
        f"the request body is over {limit} bytes (--max-body-bytes); send fewer or shorter texts per request",
        limit="max_body_bytes",
        max=limit,
    )
    declared = request.headers.get("content-length", "")
    stream = request.stream()
    if declared.isdigit() and int(declared) > limit:
        await _discard(request, stream)
        raise too_large
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _discard(request, stream)
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _discard(request: Request, stream: AsyncIterator[bytes]) -> None:
    """Reads and drops the rest of a refused body, as nginx's lingering close does, within bounds.

    A client that writes its whole body before it reads (Python's urllib) would otherwise find the connection
    reset, the 413 unread: closing a socket with unread data sends a reset. A client that waits for
    ``100 Continue`` has sent nothing yet: it gets the 413 at once.
    """
    if "100-continue" in request.headers.get("expect", "").lower():
        return

    async def drain() -> None:
        read = 0
        async for chunk in stream:
            read += len(chunk)
            if read > LINGER_BYTES:
                return

    with contextlib.suppress(asyncio.TimeoutError, ClientDisconnect):
        await asyncio.wait_for(drain(), LINGER_SECONDS)


def _validation_message(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = [f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}" for error in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more + '; send e.g. {"texts": ["a text"], "top_k": 1}'


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, code, f"{exc.detail}: {request.method} {request.url.path}").response()

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        return ApiError(422, "invalid_request", str(exc)).response()

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        return ApiError(500, "internal_error", f"{type(exc).__name__}: {exc}").response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)


def serving_versions() -> dict[str, str]:
    """Versions of lstmcli, Python, NumPy and the web stack serving now."""
    found = {"lstmcli": __version__, "python": platform.python_version()}
    return {**found, **package_versions("numpy", "fastapi", "uvicorn", "pydantic")}


def _timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))
