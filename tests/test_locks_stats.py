"""locks.kernel parsing and locks.stats formatting (no processes needed)."""
import pytest

from locks import exclusive, shared
from locks.inspect import snapshot
from locks.kernel import KernelLock, parse
from locks.stats import TEXT_FIELDS, format_text, stat_lines

PROC_LOCKS = """\
1: FLOCK  ADVISORY  WRITE 12345 fd:01:123456 0 EOF
1: -> FLOCK  ADVISORY  READ 12346 fd:01:123456 0 EOF
2: POSIX  ADVISORY  WRITE 999 08:02:777 0 EOF
3: OFDLCK ADVISORY  READ  -1 00:06:1028 0 EOF
4: FLOCK  ADVISORY  READ 222 fe:00:2146705 0 EOF
garbage
"""


@pytest.fixture(autouse=True)
def lock_dir(settings, tmp_path):
    settings.K2_LOCK_DIR = tmp_path / "locks"


def test_parse_keeps_flock_lines_with_waiters():
    assert parse(PROC_LOCKS) == [
        KernelLock(blocked=False, exclusive=True, pid=12345, dev=(0xFD, 1), ino=123456),
        KernelLock(blocked=True, exclusive=False, pid=12346, dev=(0xFD, 1), ino=123456),
        KernelLock(blocked=False, exclusive=False, pid=222, dev=(0xFE, 0), ino=2146705),
    ]


def parse_lines(text):
    return dict(line.split(": ", 1) for line in text.splitlines())


def test_stat_lines_are_name_value_pairs():
    with exclusive("build:classic"), shared("assets:figure"), shared("assets:figure"):
        stats = snapshot()["stats"]
    values = parse_lines(stat_lines(stats))
    assert list(values) == list(TEXT_FIELDS)
    assert values["held_exclusive"] == "1" and values["held_shared"] == "1" and values["shared_holders"] == "2"
    assert values["counters_available"] == "1"
    assert int(values["acquisitions"]) >= 3
    float(values["wait_avg_ms"]), float(values["wait_max_ms"])


def test_stat_lines_say_unknown_while_redis_is_down():
    stats = {key: None for key in TEXT_FIELDS}
    stats["counters_available"] = False
    values = parse_lines(stat_lines(stats))
    assert values["acquisitions"] == "U" and values["counters_available"] == "0"


def test_format_text_has_the_stats_and_a_table_of_held_locks():
    assert format_text(snapshot()).endswith("\nno locks held\n")
    with exclusive("build:classic", owner="job 42"), shared("assets:figure", owner="chunk 3"):
        text = format_text(snapshot())
    head, table = text.split("\n\n")
    assert parse_lines(head)["held_exclusive"] == "1"
    lines = table.splitlines()
    assert lines[0].split() == ["MODE", "NAME", "PID", "HOST", "OWNER", "SINCE"]
    assert any(line.startswith("exclusive") and "build:classic" in line and "job 42" in line for line in lines)
    assert any(line.startswith("shared (1)") and "assets:figure" in line and "chunk 3" in line for line in lines)


def test_read_flocks_can_keep_one_inode(tmp_path):
    path = tmp_path / "locks.txt"
    path.write_text(PROC_LOCKS)
    from locks.kernel import read_flocks

    assert [lock.pid for lock in read_flocks(path, inode=123456)] == [12345, 12346]
    assert read_flocks(path, inode=12345) == []  # a pid is not an inode
    assert len(read_flocks(path)) == 3
