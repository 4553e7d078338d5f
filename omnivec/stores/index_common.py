"""What the in-process indexes of :mod:`omnivec.stores.ann` share: faiss (imported inside
functions, its thread count set once), the versions their saved files depend on, the key
files, the recall margin and the fresh queries of a calibration, the IVF list count."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "RECALL_TARGET",
    "TailWorker",
    "calibration_target",
    "faiss_module",
    "fresh_queries",
    "nlist_for",
    "omnivec_version",
    "read_keys",
    "versions",
    "write_keys",
]

logger = logging.getLogger(__name__)

#: The recall@10 an index promises by default (``recall_target=`` changes it per collection).
RECALL_TARGET = 0.95
FORMAT = 1

_threads_set = False


def faiss_module() -> Any:
    global _threads_set
    import faiss

    if not _threads_set:
        threads = int(os.environ.get("OMNIVEC_FAISS_THREADS", min(2, os.cpu_count() or 1)))
        faiss.omp_set_num_threads(max(1, threads))
        _threads_set = True
    return faiss


def omnivec_version() -> str:
    try:
        from importlib.metadata import version

        return version("omnivec")
    except Exception:  # noqa: BLE001 - a source checkout has no distribution metadata
        return "dev"


def versions() -> dict[str, Any]:
    """The versions saved files depend on; a saved file naming others is rebuilt."""
    return {"format": FORMAT, "faiss": faiss_module().__version__, "omnivec": omnivec_version()}


def nlist_for(rows: int) -> int:
    """Inverted lists for an index over ``rows`` rows: ~4 sqrt(rows) (faiss' guideline), at
    most rows / 39 (enough training points per list) and 65,536."""
    return int(max(1, min(4 * np.sqrt(rows), rows // 39 or 1, 65_536)))


def write_keys(folder: Path, name: str, keys: Sequence[str]) -> None:
    """``<name>.keys``: one store key per line (a removed id's line is empty), replaced whole."""
    tmp = folder / f"{name}.keys.tmp"
    tmp.write_text("\n".join(keys), encoding="utf-8")
    os.replace(tmp, folder / f"{name}.keys")


def read_keys(folder: Path, name: str) -> list[str | None]:
    """What :func:`write_keys` wrote, a removed id's line as ``None``."""
    text = (folder / f"{name}.keys").read_text(encoding="utf-8")
    return [k or None for k in text.split("\n")] if text else []


def calibration_target(recall_target: float) -> float:
    """The recall an index is calibrated for on its sample: halfway from the promised
    ``recall_target`` to 1 (0.975 for 0.95), a margin for queries the sample did not see."""
    return recall_target + (1.0 - recall_target) / 2


def fresh_queries(
    rows: np.ndarray, neighbours: np.ndarray, rng: np.random.Generator, unit: bool
) -> np.ndarray:
    """Queries that are not stored points: each row of ``rows`` moved in a random direction
    by its distance to its nearest stored neighbour (a row of ``neighbours``), as a new
    point of the data falls near, not onto, what is stored; ``unit``: scaled back to unit
    length (cosine). float32 ``(m, dim)``."""
    rows = np.asarray(rows, dtype=np.float32)
    step = np.linalg.norm(rows - neighbours, axis=1, keepdims=True)
    noise = rng.standard_normal(rows.shape).astype(np.float32)
    noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
    out = rows + noise * step
    if unit:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(out, dtype=np.float32)


class TailWorker:
    """A background thread that moves an index's unindexed tail into it (HNSW graph, PQ
    codes), one chunk at a time under the index's lock, at low priority and with one faiss
    thread, so that searches and writes interleave with it; searches scan the tail meanwhile.
    """

    def __init__(self, name: str, failure: str) -> None:
        self.name, self.failure = name, failure
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start(self, lock: Any, step: Callable[[], int], done: Callable[[], None]) -> None:
        """Run ``step()`` (rows moved; 0 once the tail is empty) under ``lock`` until the tail
        is empty, then ``done()`` under it; a no-op while a run is under way."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(lock, step, done), name=self.name, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop after the chunk under way (the tail stays; searches keep scanning it)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run under way; False if none was ever started."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return True

    def _run(self, lock: Any, step: Callable[[], int], done: Callable[[], None]) -> None:
        with contextlib.suppress(AttributeError, OSError):  # not Linux: same priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        faiss_module().omp_set_num_threads(1)
        try:
            while not self._stop.is_set():
                with lock:
                    if self._stop.is_set() or not step():
                        done()
                        return
        except Exception:  # searches still scan the tail; logged
            logger.exception(self.failure)
