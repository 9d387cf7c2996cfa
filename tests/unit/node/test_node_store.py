"""The node's store on real files: what it writes survives a restart, deletes stay deleted, copies move whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage_node import fileio
from storage_node.store import MAGIC, Deletion, ObjMeta, Store, Verdict, found_live, read_header


def _store(tmp_path: Path, *mountpaths: str) -> Store:
    store = Store([str(tmp_path / mp) for mp in mountpaths or ("mp",)], tmp_path / "state", fsync=False)
    store.load()
    return store


def _put(store: Store, name: str, data: bytes, bucket: str = "b") -> ObjMeta:
    tmp = store.begin(bucket, name, len(data))
    tmp.write(data)
    return store.commit_client(tmp)


def _one_object(tmp_path: Path) -> tuple[Store, ObjMeta]:
    """A store on a fresh mountpath holding one object b/k."""
    store = _store(tmp_path)
    return store, _put(store, "k", b"data")


def test_small_and_large_objects_read_back_whole_after_a_restart(tmp_path: Path) -> None:
    store = _store(tmp_path)
    small, large = b"x" * 100, bytes(range(256)) * 8192  # 2 MiB: streamed to disk, header written last
    _put(store, "small", small)
    _put(store, "large", large)
    again = _store(tmp_path)
    assert (again.total_objects, again.total_bytes) == (2, len(small) + len(large))
    for name, data in (("small", small), ("large", large)):
        meta = again.get("b", name)
        assert meta is not None and again.read_all(meta) == data and meta.cksum == fileio.checksum(data)
        with open(again.path_of(meta.mountpath, "b", name), "rb") as fh:
            assert fh.read(4) == MAGIC
            fh.seek(0)
            parsed = read_header(fh)
        assert parsed is not None and (parsed[0].name, parsed[0].version) == (name, meta.version)


def test_a_client_write_with_a_wrong_checksum_leaves_the_previous_version(tmp_path: Path) -> None:
    store, meta = _one_object(tmp_path)
    tmp = store.begin("b", "k")
    tmp.write(b"other")
    try:
        store.commit_client(tmp, expected_cksum="0" * 32)
    except ValueError:
        pass
    else:
        raise AssertionError("a checksum mismatch must fail the write")
    assert store.get("b", "k") is meta and store.read_all(meta) == b"data"
    assert not any(Path(meta.mountpath, "ferry", "tmp").iterdir()), "nothing of the failed write stays behind"


def test_a_deleted_object_stays_deleted_after_a_restart_and_refuses_stale_copies(tmp_path: Path) -> None:
    store, meta = _one_object(tmp_path)
    store.delete("b", "k", meta.version + 1)
    again = _store(tmp_path)
    assert again.get("b", "k") is None and again.tombstone("b", "k") == meta.version + 1
    assert again.verdict("b", "k", meta.version) is Verdict.newer
    stale = again.begin_migrating("b", "k", 4, meta.version, meta.cksum)
    stale.write(b"data")
    assert again.commit_migrating(stale, meta.version, meta.cksum) is Verdict.newer
    assert again.get("b", "k") is None


def test_a_migrating_copy_is_installed_once_whole_and_refused_when_corrupt(tmp_path: Path) -> None:
    store = _store(tmp_path)
    cksum = fileio.checksum(b"data")
    bad = store.begin_migrating("b", "k", 4, 7, cksum)
    bad.write(b"dat!")
    assert store.commit_migrating(bad, 7, cksum) is Verdict.bad and store.get("b", "k") is None
    good = store.begin_migrating("b", "k", 4, 7, cksum)
    good.write(b"data")
    assert store.commit_migrating(good, 7, cksum) is Verdict.ok
    meta = store.get("b", "k")
    assert meta is not None and meta.version == 7 and store.read_all(meta) == b"data"


def test_a_handed_over_copy_counts_as_existing_for_a_delete_until_deleted(tmp_path: Path) -> None:
    store, meta = _one_object(tmp_path)
    assert store.remove_moved("b", "k", meta.version)
    assert store.handed_over("b", "k") == meta.version and store.moved_out == 1
    assert found_live([store.delete("b", "k", meta.version + 1)]), "it was on its way to its new node: it existed"
    assert store.handed_over("b", "k") is None
    again = store.delete("b", "k", meta.version + 2)
    assert again.tomb == meta.version + 1 and not found_live([again]), "deleted already: a second delete finds nothing"


def test_a_stale_copy_older_than_a_tombstone_elsewhere_is_no_live_object_for_a_delete(tmp_path: Path) -> None:
    # a node killed mid-hand-over kept a copy the cluster has deleted since: deleting again finds nothing live
    store, stale = _one_object(tmp_path)
    here = store.delete("b", "k", stale.version + 10)
    assert here == Deletion(stale.version, None)
    assert found_live([here]), "alone, the copy it removed was live"
    assert not found_live([here, Deletion(None, stale.version + 5)]), "another node had deleted it already"
    assert found_live([here, Deletion(None, stale.version - 1)]), "a tombstone older than the copy"


def test_a_dropped_bucket_leaves_no_object_tombstone_or_hand_over_behind(tmp_path: Path) -> None:
    store = _store(tmp_path)
    moved, deleted = _put(store, "moved", b"1"), _put(store, "deleted", b"2")
    _put(store, "kept", b"3")
    _put(store, "other", b"4", bucket="c")
    store.remove_moved("b", "moved", moved.version)
    store.delete("b", "deleted", deleted.version + 1)
    assert store.drop_bucket("b") == 1
    assert store.handed_over("b", "moved") is None and store.tombstone("b", "deleted") is None
    assert (store.total_objects, store.total_bytes) == (1, 1)
    again = _store(tmp_path)
    assert [m.name for m in again.snapshot()] == ["other"] and again.tombs_of("b") == {}


def test_resilver_moves_objects_of_a_removed_mountpath_home_and_forgets_it(tmp_path: Path) -> None:
    before = _store(tmp_path, "mp0", "mp1")
    data = {f"k{i}": str(i).encode() * 10 for i in range(20)}
    for name, body in data.items():
        _put(before, name, body)
    assert any(m.mountpath.endswith("mp1") for m in before.snapshot())
    after = _store(tmp_path, "mp0")  # mp1 no longer configured: its objects stay readable until resilvered
    assert after.total_objects == len(data) and any(after.misplaced_locally())
    assert asyncio.run(after.resilver()) == sum(1 for m in before.snapshot() if m.mountpath.endswith("mp1"))
    assert not any(after.misplaced_locally()) and not (tmp_path / "mp1" / "ferry").exists()
    again = _store(tmp_path, "mp0")
    assert {m.name: again.read_all(m) for m in again.snapshot()} == data


def test_a_delete_applied_again_answers_what_its_first_application_removed(tmp_path: Path) -> None:
    # the sender's first try applied it and its answer was lost (a timeout): the retry must not hide the copy
    store, meta = _one_object(tmp_path)
    first = store.delete("b", "k", meta.version + 5)
    assert first == Deletion(meta.version, None) and found_live([first])
    again = store.delete("b", "k", meta.version + 5)
    assert again == first and found_live([again])
    later = store.delete("b", "k", meta.version + 6)  # another delete: nothing left
    assert later == Deletion(None, meta.version + 5) and not found_live([later])


def test_a_tombstone_that_is_the_delete_s_own_is_not_taken_for_an_older_delete() -> None:
    # node A removed the live copy (v10); node B had got this very delete (v20) on a lost earlier try
    answers = [Deletion(10, None), Deletion(None, 20)]
    assert not found_live(answers), "as any older delete would be"
    assert found_live(answers, own=20)
    assert not found_live([Deletion(10, None), Deletion(None, 15)], own=20), "an older delete of v15 removed v10"
