"""stylestudy.fileio: a file written atomically is complete or absent, never partial."""

from __future__ import annotations

import os
import stat

import pytest

from stylestudy.fileio import atomic_path, write_atomic


class Crash(Exception):
    pass


def _partial_write(path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        raise Crash


def test_exception_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.bin"
    write_atomic(path, b"old contents")
    with pytest.raises(Crash):
        _partial_write(path, b"new contents, much longer than the old ones")
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["out.bin"]  # no temporary file left behind


def test_exception_mid_write_leaves_no_file(tmp_path):
    path = tmp_path / "sub" / "out.bin"
    with pytest.raises(Crash):
        _partial_write(path, b"new contents")
    assert not path.exists()
    assert os.listdir(path.parent) == []


def test_complete_write_replaces_the_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp != path
        tmp.write_bytes(b"new")
        assert path.read_bytes() == b"old"  # nothing visible before the block ends
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_mode_new_and_kept(tmp_path):
    new, kept = tmp_path / "new.bin", tmp_path / "kept.bin"
    write_atomic(new, b"x")
    kept.write_bytes(b"old")
    kept.chmod(0o600)
    write_atomic(kept, b"new")
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
