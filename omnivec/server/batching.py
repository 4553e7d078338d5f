"""Cross-request micro-batching of searches.

A model encodes 16 short queries in one call in little more time than one, and a store answers
16 queries in one call in little more time than one; 16 clients each encoding and searching
alone spend most of their time waiting on each other for the same CPU. So concurrent
single-query searches of one collection with the same options (``k``, ``where``, ...) are
queued together and answered by one :meth:`Collection.search` call with the list of their
queries: one encoder call and one store call for the whole group.

- Nothing waits when the server is quiet: the first query of a group runs at once. Queries
  that arrive while a group's batch is running queue up and go in its next batch.
- The short bounded wait (``max_wait_s``, a few ms) happens only while other requests are in
  flight that have not reached the batcher yet, so a lone request is as fast as without it.
- A failed batch is retried in halves, concurrently, down to the single queries that fail,
  so a bad query fails alone and no request inherits another's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

#: ``search_many(collection_name, queries, options) -> one list of hits per query``; runs in
#: a worker thread.
SearchMany = Callable[[str, list[Any], dict[str, Any]], list[Any]]


@dataclass
class _Group:
    queue: list[tuple[Any, asyncio.Future[Any]]] = field(default_factory=list)
    running: int = 0
    #: Set when a query joins the queue or a request in flight ends: a waiting batch looks
    #: again at once instead of polling.
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class SearchBatcher:
    """Queue single queries per (collection, options) and answer them in batches.

    ``max_batch``: most queries in one call. ``max_wait_s``: longest a batch waits for
    requests still on their way. ``concurrency``: batches of one group that may run at once
    (2 lets one batch encode while another is in the store).
    """

    def __init__(
        self,
        search_many: SearchMany,
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.003,
        concurrency: int = 2,
    ) -> None:
        self.search_many = search_many
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.concurrency = concurrency
        #: HTTP requests being served right now (kept by :class:`InFlight`).
        self.active = 0
        #: Queries handed to the batcher and not answered yet.
        self.pending = 0
        self.batches = 0
        self.queries = 0
        self._groups: dict[Hashable, _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def search(self, name: str, query: Any, options: dict[str, Any]) -> Any:
        """The hits of one ``query`` on collection ``name``, answered in a batch."""
        key = (name, tuple(sorted(options.items())))
        group = self._groups.setdefault(key, _Group())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        group.queue.append((query, future))
        group.changed.set()
        self.pending += 1
        try:
            if group.running < self.concurrency:
                group.running += 1
                task = asyncio.create_task(self._drain(key, group, name, options))
                self._tasks.add(task)  # the loop keeps only weak references to tasks
                task.add_done_callback(self._tasks.discard)
            return await future
        finally:
            self.pending -= 1

    def _others_coming(self) -> bool:
        return self.active > self.pending

    def request_ended(self) -> None:
        """A request in flight ended: batches waiting for it look again."""
        self.active -= 1
        for group in self._groups.values():
            group.changed.set()

    async def _drain(
        self, key: Hashable, group: _Group, name: str, options: dict[str, Any]
    ) -> None:
        try:
            loop = asyncio.get_running_loop()
            while group.queue:
                deadline = loop.time() + self.max_wait_s
                while (
                    len(group.queue) < self.max_batch
                    and self._others_coming()
                    and (left := deadline - loop.time()) > 0
                ):
                    group.changed.clear()
                    try:
                        await asyncio.wait_for(group.changed.wait(), left)
                    except TimeoutError:
                        break
                # The group's other worker may have taken the queue during the wait.
                batch = group.queue[: self.max_batch]
                del group.queue[: self.max_batch]
                if batch:
                    await self._run(name, options, batch)
        finally:
            group.running -= 1
            if not group.running and not group.queue:
                self._groups.pop(key, None)

    async def _run(
        self, name: str, options: dict[str, Any], batch: list[tuple[Any, asyncio.Future[Any]]]
    ) -> None:
        queries = [q for q, _ in batch]
        self.batches += 1
        self.queries += len(batch)
        try:
            results = await run_in_threadpool(self.search_many, name, queries, options)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request(s)
            if len(batch) <= 1:
                for _, future in batch:
                    _settle(future, exc=exc)
                return
            # One bad query must not fail the others: the batch is asked again in halves,
            # down to single queries where the failure is, so only the bad ones fail (a few
            # more calls than there are bad queries, not one per query).
            mid = len(batch) // 2
            await asyncio.gather(
                self._run(name, options, batch[:mid]), self._run(name, options, batch[mid:])
            )
            return
        for (_, future), hits in zip(batch, results, strict=True):
            _settle(future, result=hits)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():  # the request was cancelled (client gone)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class InFlight:
    """ASGI middleware counting the HTTP requests in flight, for the batcher's wait rule."""

    def __init__(self, app: Any, batcher: SearchBatcher) -> None:
        self.app = app
        self.batcher = batcher

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.batcher.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.batcher.request_ended()
