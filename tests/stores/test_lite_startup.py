"""Milvus Lite's start-up fault, met for real, and the classification of retryable errors.

milvus-lite 2.5 sets its mmap manager up on a server process's first create or load, in
``$HOME/.cache/milvus``; when that fails (two Lite processes racing on the shared folder, or
the folder unusable) the create fails with ``Mmap manager has not been init`` (code 2000), and
the same call succeeds once the folder is usable. Here the folder is made unusable for real
(``~/.cache`` is a file) in the Lite process's own ``HOME``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest
from pymilvus.exceptions import MilvusException, MilvusUnavailableException

from omnivec.errors import StoreError, StoreUnavailableError
from omnivec.stores.errors import (
    lite_init_fault,
    lite_lacks_index,
    not_listening,
    transient_goaway,
    translate,
)
from omnivec.stores.milvus import MilvusStore

MMAP_FAULT = (
    'Assert "init_flag_ == true"  => Mmap manager has not been init. at /workspace/milvus-lite/'
    "thirdparty/milvus/internal/core/src/storage/MmapManager.h:96\n: segcore error"
)


@pytest.fixture
def broken_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose ``.cache`` is a file: a Lite server started now cannot set up its mmap
    manager (the child process inherits the environment when it starts)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("not a folder")
    monkeypatch.setenv("HOME", str(home))
    return home


class _Repair(logging.Handler):
    """Makes Lite's cache folder usable again when the store says it is trying again."""

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home, self.retries = home, 0

    def emit(self, record: logging.LogRecord) -> None:
        if "trying again" in record.getMessage():
            self.retries += 1
            (self.home / ".cache").unlink(missing_ok=True)


def test_a_fresh_lite_server_that_cannot_set_up_yet_is_tried_again(
    broken_home: Path, tmp_path: Path
) -> None:
    repair = _Repair(broken_home)
    log = logging.getLogger("omnivec.stores.lite")
    log.addHandler(repair)
    try:
        store = MilvusStore(str(tmp_path / "fresh.db"))  # creates the catalog: the first create
    finally:
        log.removeHandler(repair)
    try:
        assert repair.retries == 1  # the fault was met, and the retry cured it
        store.create_collection("c", 2, "cosine")
        assert store.list_collections() == ["c"]
    finally:
        store.close()


def test_a_lasting_fault_says_what_to_check(broken_home: Path, tmp_path: Path) -> None:
    from omnivec.stores import lite

    path = str(tmp_path / "stuck.db")
    with pytest.raises(StoreUnavailableError, match=r"\.cache/milvus.*writable") as err:
        MilvusStore(path)
    assert "\n" not in str(err.value)
    assert lite_init_fault(err.value)  # the original error is kept as the cause
    assert not lite._lite_server_running(path)  # the failed open gave the file back
    (broken_home / ".cache").unlink()
    store = MilvusStore(path)
    store.close()


def test_the_fault_is_told_apart_from_other_segcore_errors() -> None:
    fault = MilvusException(code=2000, message=MMAP_FAULT)
    assert lite_init_fault(fault)
    # Code 2000 alone is any segcore error: a filter's type check is the user's mistake.
    type_check = MilvusException(code=2000, message=" => expr type check failed, actual: JSON")
    assert not lite_init_fault(type_check)
    assert not lite_init_fault(MilvusException(code=65535, message=MMAP_FAULT))
    assert not lite_init_fault(RuntimeError(MMAP_FAULT))

    def unavailable(exc: BaseException) -> str:
        return "down"

    # Even on a call that carried a filter, the fault is not blamed on the filter.
    mapped = translate(fault, "search", "year > 3", unavailable)
    assert type(mapped) is StoreUnavailableError and "filter" not in str(mapped)
    assert type(translate(type_check, "search", "x", unavailable)) is not StoreUnavailableError


class _Rpc(grpc.RpcError):
    """A failed RPC as grpc reports it: a status code and details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def _connect_failed(cause: BaseException) -> MilvusException:
    """What pymilvus raises when it cannot open a channel: code 2, from the RPC error."""
    try:
        raise MilvusException(code=2, message="Fail connecting to server on x") from cause
    except MilvusException as exc:
        return exc


def test_connection_failures_are_classified_by_code() -> None:
    goaway = _Rpc(grpc.StatusCode.UNAVAILABLE, "GOAWAY received; Debug data: too_many_pings")
    refused = _Rpc(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    assert transient_goaway(_connect_failed(goaway))
    assert not transient_goaway(_connect_failed(refused))
    # The words without gRPC's UNAVAILABLE (a server's refusal that quotes them) are not one.
    assert not transient_goaway(MilvusException(code=65535, message="goaway too_many_pings"))
    assert not transient_goaway(_Rpc(grpc.StatusCode.INTERNAL, "goaway"))

    assert not_listening(_connect_failed(refused))
    assert not_listening(MilvusUnavailableException(message="x"))
    assert not_listening(FileNotFoundError(2, "No such file or directory"))
    assert not not_listening(MilvusException(code=1800, message="unavailable: bad token"))
    assert not not_listening(ValueError("No such file or directory"))


def test_an_index_lite_lacks_is_told_by_its_code_and_words() -> None:
    lacks = MilvusException(
        code=65535, message="invalid index type: HNSW, local mode only support FLAT IVF_FLAT"
    )
    assert lite_lacks_index(lacks)
    try:
        raise StoreError("Milvus refused to create collection 'c'") from lacks
    except StoreError as mapped:
        assert lite_lacks_index(mapped)  # read through the mapped error's cause
    assert not lite_lacks_index(MilvusException(code=1100, message="only support FLAT"))
    assert not lite_lacks_index(MilvusException(code=65535, message="boom"))


def test_a_cause_chained_to_itself_still_shows_what_it_was_raised_from() -> None:
    """pymilvus' decorators re-raise ``e from e``; the RPC error behind it is still read."""
    goaway = _Rpc(grpc.StatusCode.UNAVAILABLE, "GOAWAY received; too_many_pings")
    try:
        try:
            raise goaway
        except grpc.RpcError:
            err = MilvusException(code=2, message="Fail connecting to server")
            raise err from err  # what pymilvus does
    except MilvusException as exc:
        assert exc.__cause__ is exc
        assert transient_goaway(exc)
