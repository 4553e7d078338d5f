"""Loaded models shared by every encoder of a process.

Encoders are cheap objects that store their configuration (one per collection, so that a
``fit`` changes one collection only); what is expensive is the model behind them. A
:class:`SharedModels` holds the loaded models by a key naming what was loaded (the weights,
the device...), never by options that leave the weights alone (prompts, chunking, keyword
options, batch size), so collections that differ only in those load their model once.

Thread safety: :meth:`SharedModels.get` loads each key once, even when threads ask for it at
the same time (the others wait for that load and share its result); different keys load in
parallel. A model lives while an encoder holds it, and the ``keep`` most recently used stay
loaded even when none does, so a collection opened again (another ``Platform`` on the same
file, a dropped and re-created collection) does not load its model again.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["SharedModels"]

T = TypeVar("T")


class SharedModels(Generic[T]):
    """Loaded models by key: ``get(key, load)`` returns the model loaded for ``key``, calling
    ``load()`` only when none is. Values must accept weak references (torch modules do)."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._held: weakref.WeakValueDictionary[str, T] = weakref.WeakValueDictionary()
        self._recent: OrderedDict[str, T] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        #: How many times ``load()`` ran (one per key while it stays loaded).
        self.loads = 0

    def _remember(self, key: str, value: T) -> None:
        """Record ``value`` as the most recently used (caller holds ``_lock``)."""
        self._held[key] = value
        self._recent[key] = value
        self._recent.move_to_end(key)
        while len(self._recent) > self.keep:
            self._recent.popitem(last=False)

    def get(self, key: str, load: Callable[[], T]) -> T:
        with self._lock:
            value = self._held.get(key)
            if value is not None:
                self._remember(key, value)
                return value
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; a second thread waits for it and shares it
            with self._lock:
                value = self._held.get(key)
                if value is not None:
                    self._remember(key, value)
                    return value
            try:
                value = load()
                with self._lock:
                    self.loads += 1
                    self._remember(key, value)
            finally:
                with self._lock:
                    if self._loading.get(key) is key_lock:
                        del self._loading[key]
        return value

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._held.get(key) is not None

    def clear(self) -> None:
        """Forget the models kept for reuse (those encoders still hold stay with them)."""
        with self._lock:
            self._recent.clear()
