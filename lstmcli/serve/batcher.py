"""Micro-batching: requests that arrive together are labelled in one pass of the network.

A forward pass costs about the same for one text as for dozens (the recurrent loop runs once per time step
whatever the batch), so the server gathers what arrives within a few milliseconds, up to a cap, and labels
it in one batch on a worker thread, off the event loop. Two batches may be labelled at once: one batch's texts
are encoded and its rows written (Python, holding the GIL) while the other's network runs (NumPy and ONNX
Runtime release it). No FastAPI here: the batcher only needs asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmcli.decision import row_json
from lstmcli.predictor import Predictor
from lstmcli.serve.settings import Batching

# Batches labelled at once. With one, the network waits while a batch is encoded and its answers written, and
# requests that arrive meanwhile wait for the whole batch (bench/RESULTS.md, "`serve` under load").
LANES = 2


@dataclass
class _Job:
    texts: list[str]
    top_k: int | None
    future: asyncio.Future[list[str]]


def label_jobs(predictor: Predictor, jobs: list[tuple[list[str], int | None]]) -> list[list[str]]:
    """Labels several requests' texts in one pass; returns each request's rows as JSON text.

    Args:
        predictor: the loaded run.
        jobs: ``(texts, top_k)`` per request; a top_k of None keeps the server's.

    Returns:
        Per request, one JSON object per text, exactly as ``predict --format jsonl`` writes it: the texts that
        hold more than whitespace go through one :meth:`lstmcli.predictor.Predictor.proba` call, and each row
        through the run's :class:`lstmcli.decision.Decider` (``predictor.decider``, with the server's options).
    """
    texts = [text for job_texts, _ in jobs for text in job_texts]
    filled = [i for i, text in enumerate(texts) if text.strip()]  # an empty text gets its row, no probabilities
    probabilities = np.zeros((len(texts), len(predictor.labels)), np.float32)
    if filled:
        probabilities[filled] = predictor.proba([texts[i] for i in filled])
    empty = np.ones(len(texts), bool)
    empty[filled] = False
    out, start = [], 0
    for job_texts, top_k in jobs:
        decider = predictor.decider.with_options(top_k=top_k)
        end = start + len(job_texts)
        rows = decider.rows_json(probabilities[start:end])
        for i in np.flatnonzero(empty[start:end]).tolist():
            rows[i] = row_json(decider.row(None))
        out.append(rows)
        start = end
    return out


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class MicroBatcher:
    """Queues requests, labels them in batches on :data:`LANES` worker threads, and answers each request's future.

    A batch starts when a lane is free, each on the predictor current when it starts: :meth:`swap` replaces the
    predictor between batches, never inside one.
    """

    def __init__(self, predictor: Predictor, batching: Batching) -> None:
        self.predictor = predictor
        self.batching = batching
        self.stats: dict[str, Any] = {"requests": 0, "texts": 0, "batches": 0, "largest_batch": 0}
        self._jobs: deque[_Job] = deque()
        self._answered = 0  # requests in the last batch
        self._gathering: asyncio.Future[None] | None = None  # an idle lane's wait for more requests
        self._wake: asyncio.Event | None = None
        self._lane_freed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()  # the batches being labelled, at most LANES
        self._executor = ThreadPoolExecutor(max_workers=LANES, thread_name_prefix="lstmcli-predict")

    def start(self) -> None:
        """Starts the batching loop on the running event loop."""
        self._wake, self._lane_freed = asyncio.Event(), asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """Stops the loop (call it once no request is waiting), then the worker threads once their batches end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)

    def swap(self, predictor: Predictor) -> None:
        """Serves the next batches from ``predictor``; a batch already running finishes on the old one."""
        self.predictor = predictor

    async def predict(self, texts: list[str], top_k: int | None) -> list[str]:
        """The JSON rows for ``texts`` (see :func:`label_jobs`), once their batch has run."""
        if self._wake is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(texts, top_k, future))
        self._wake.set()
        if self._gathering is not None and self._enough():
            _resolve(self._gathering)
        return await future

    async def _serve(self) -> None:
        assert self._wake is not None and self._lane_freed is not None
        wait = self.batching.max_wait_ms / 1000
        while True:
            while len(self._running) >= LANES:
                self._lane_freed.clear()
                await self._lane_freed.wait()
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                # Only an idle lane waits for company: requests queued while every lane was busy have waited.
                if wait > 0:
                    await self._company(wait)
            batch = self._take()
            if batch:
                task = asyncio.get_running_loop().create_task(self._run(batch))
                self._running.add(task)
                task.add_done_callback(self._lane_done)

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        assert self._lane_freed is not None
        self._lane_freed.set()

    async def _company(self, wait: float) -> None:
        """Waits up to ``wait`` seconds for more requests, and no longer once there are :meth:`_enough`; one timer,
        and :meth:`predict` ends the wait early."""
        if self._enough():
            return
        loop = asyncio.get_running_loop()
        ready = self._gathering = loop.create_future()
        timer = loop.call_later(wait, _resolve, ready)
        try:
            await ready
        finally:
            timer.cancel()
            self._gathering = None

    def _enough(self) -> bool:
        """Whether the batch is full, or as many requests are queued as the last batch answered: clients that send
        their next request once answered (most) are all back then, and waiting longer would only delay them."""
        return self._queued_texts() >= self.batching.max_batch or 0 < self._answered <= len(self._jobs)

    def _queued_texts(self) -> int:
        return sum(len(job.texts) for job in self._jobs)

    def _take(self) -> list[_Job]:
        """The oldest requests that fit in one batch (at least one); requests whose client left are dropped."""
        batch: list[_Job] = []
        size = 0
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # cancelled: the client disconnected
                self._jobs.popleft()
                continue
            if batch and size + len(job.texts) > self.batching.max_batch:
                break
            batch.append(self._jobs.popleft())
            size += len(job.texts)
        return batch

    async def _run(self, batch: list[_Job]) -> None:
        predictor = self.predictor
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                self._executor, label_jobs, predictor, [(job.texts, job.top_k) for job in batch]
            )
        except Exception as exc:  # a bug, not a user's mistake: every request of the batch gets it
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        for job, rows in zip(batch, results):
            if not job.future.done():
                job.future.set_result(rows)
        size = sum(len(job.texts) for job in batch)
        self._answered = len(batch)
        self.stats["requests"] += len(batch)
        self.stats["texts"] += size
        self.stats["batches"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], size)
