"""Holder tables that lockd servers publish for the dashboard.

Per-acquisition note files would cost a lockd server more than the lock
itself, so a server instead writes its whole holder table to one file,
``K2_LOCK_DIR/.lockd/<pid>.json``, at most twice a second while it changes
(and every few seconds anyway, as a heartbeat). ``locks.inspect`` joins the
kernel's lock lines of that pid with it: each line is one connection's
lock, labelled with its ``iam`` name or ip:port.
"""
import json
import os
import time

from locks.identity import host_name
from locks.notes import pid_running
from locks.paths import lock_dir

__all__ = ("SUBDIR", "table_path", "write_table", "encode", "remove_table", "read_tables")

SUBDIR = ".lockd"
STALE_AFTER_S = 30.0  # a table not rewritten for this long belongs to a stopped server


def table_path(pid=None):
    return lock_dir() / SUBDIR / f"{pid or os.getpid()}.json"


def write_table(path, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{path.name}")
    with open(temp, "w", encoding="utf-8") as f:
        f.write(encode(table))
    os.replace(temp, path)


def encode(table):
    """JSON of a table, row by row: one C call per row instead of one for
    all, so the writer thread lets the server's event loop in between."""
    head = json.dumps({key: value for key, value in table.items() if key != "holders"}, separators=(",", ":"))
    rows = ",".join([json.dumps(row, separators=(",", ":")) for row in table.get("holders", ())])
    return f'{head[:-1]},"holders":[{rows}]}}'



def remove_table(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_tables():
    """{pid: table} of live lockd servers of this host; stale files are removed."""
    directory = lock_dir() / SUBDIR
    tables = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return tables
    host = host_name()
    for entry in entries:
        if not entry.name.endswith(".json") or entry.name.startswith("."):
            continue
        try:
            with open(entry.path, encoding="utf-8") as f:
                table = json.load(f)
        except (OSError, ValueError):
            continue
        pid = table.get("pid")
        fresh = time.time() - float(table.get("updated", 0)) < STALE_AFTER_S
        if table.get("host") == host and (not isinstance(pid, int) or not pid_running(pid) or not fresh):
            remove_table(entry.path)  # a server that died without cleaning up
            continue
        tables[pid] = table
    return tables
