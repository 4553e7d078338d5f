"""The switch gate of a collection: every call that touches the rows holds it shared, the
switch of a re-embed or re-index (:mod:`omnivec.platform.shadow`) holds it exclusively."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SwitchGate"]


class _SharedHold:
    """``with gate.shared():`` without a generator-based context manager per call (the
    gate is taken on every collection call, searches included)."""

    __slots__ = ("gate",)

    def __init__(self, gate: SwitchGate) -> None:
        self.gate = gate

    def __enter__(self) -> None:
        self.gate.enter_shared()

    def __exit__(self, *exc: object) -> None:
        self.gate.exit_shared()


class SwitchGate:
    """Readers and writers of a collection hold it shared; a shadow switch holds it
    exclusively, so no call is half-way through the old Milvus collection when the switch
    happens and none is still using it when it is dropped."""

    def __init__(self) -> None:
        # A plain lock the fast path takes in C; the condition (on the same lock) is only
        # waited on and notified while a switch is pending.
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._shared = 0
        self._exclusive = False
        self._waiting = 0  # switches waiting for the shares to leave
        self._owner: int | None = None
        self._held = threading.local()
        self._hold = _SharedHold(self)

    def shared(self) -> _SharedHold:
        """Hold the gate shared for a ``with`` block (re-entrant)."""
        return self._hold

    def enter_shared(self) -> None:
        held = self._held
        depth = getattr(held, "depth", 0)
        if depth:  # this thread holds it already: nothing to wait for, nothing to count
            held.depth = depth + 1
            return
        with self._mutex:
            # The switching thread (which holds it exclusively) never waits for itself.
            if self._exclusive and self._owner != threading.get_ident():
                while self._exclusive:
                    self._cond.wait()
            self._shared += 1
        held.depth = 1

    def exit_shared(self) -> None:
        held = self._held
        depth = held.depth
        held.depth = depth - 1
        if depth > 1:
            return
        with self._mutex:
            self._shared -= 1
            if not self._shared and self._waiting:  # a switch waits for no share left
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the gate alone: wait for the shares to leave; new ones wait until the end."""
        with self._cond:
            self._waiting += 1
            try:
                while self._exclusive:
                    self._cond.wait()
                self._exclusive, self._owner = True, threading.get_ident()
                while self._shared:
                    self._cond.wait()
            except BaseException:
                if self._owner == threading.get_ident():  # interrupted while draining
                    self._exclusive, self._owner = False, None
                    self._cond.notify_all()
                raise
            finally:
                self._waiting -= 1
        try:
            yield
        finally:
            with self._cond:
                self._exclusive, self._owner = False, None
                self._cond.notify_all()
