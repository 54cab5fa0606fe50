"""Atomic image files: every byte or nothing, never a partial file under its name."""
import os

import pytest

from trophies.services import renders
from trophies.services.renders import AtomicWriter


def test_short_writes_are_continued_until_every_byte_is_written(tmp_path, monkeypatch):
    real_write = os.write
    calls = []

    def short_write(fd, data):  # what a kernel may do under memory pressure or signals
        calls.append(len(data))
        return real_write(fd, bytes(data[:1000]))

    monkeypatch.setattr(renders.os, "write", short_write)
    data = os.urandom(25_000)
    with AtomicWriter(str(tmp_path), "chunk") as writer:
        writer.write(f"{tmp_path}/a/b/picture.jpg", data)
    assert (tmp_path / "a" / "b" / "picture.jpg").read_bytes() == data
    assert len(calls) == 25


def test_a_failed_write_leaves_no_file_behind(tmp_path, monkeypatch):
    def full_disk(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(renders.os, "write", full_disk)
    with AtomicWriter(str(tmp_path), "chunk") as writer:
        with pytest.raises(OSError, match="No space left"):
            writer.write(f"{tmp_path}/a/picture.jpg", b"x" * 100)
        assert os.listdir(writer.scratch) == []
    assert not (tmp_path / "a" / "picture.jpg").exists()
    assert not (tmp_path / ".tmp" / "chunk").exists()
