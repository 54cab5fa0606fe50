"""Publish the server's holder table (see ``locks.published``) while it runs.

The event loop only copies who holds what (C-speed list copies); rows are
formatted and written by a thread, which yields the interpreter to the
loop every few milliseconds, so a table of many thousand holders never
stalls the clients for long. Publishing at most every INTERVAL_S (longer
when a table takes long to write) keeps its cost per operation near zero.
"""
import asyncio
import logging
import os
import threading
import time
from datetime import datetime, timezone

from locks.identity import host_name
from locks.published import remove_table, table_path, write_table

__all__ = ("Publisher",)

log = logging.getLogger(__name__)
INTERVAL_S = 0.5
HEARTBEAT_S = 5.0


def _iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _text(name):
    return name.decode("utf-8", "surrogateescape")


class Publisher:
    def __init__(self, table, bind, store=None):
        self.table = table
        self.bind = bind
        # Where tables go: a file by default; the postgres table gives its own
        # (an object with write(data) and remove()).
        self.store = store or _FileStore(table_path())
        self._task = None
        # A write still running in its thread must not bring the table back
        # after stop() removed it.
        self._guard = threading.Lock()
        self._stopped = False

    def start(self):
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self):
        loop = asyncio.get_running_loop()
        published = None
        last = 0.0
        while True:
            version = self.table.version
            interval = INTERVAL_S
            if version != published or loop.time() - last > HEARTBEAT_S:
                started = loop.time()
                copied = self.copy()
                try:
                    await loop.run_in_executor(None, self._write, copied)
                except Exception as exc:  # the dashboard is a side show
                    log.warning("could not publish the lockd table: %s", exc)
                published, last = version, loop.time()
                interval = max(INTERVAL_S, 20 * (last - started))  # at most ~5% of the time
            await asyncio.sleep(interval)

    def _write(self, copied):
        data = self.snapshot(copied)
        with self._guard:
            if not self._stopped:
                self.store.write(data)

    def copy(self):
        """Who holds what, copied in the loop (the thread must not iterate live dicts)."""
        return list(self.table.exclusive.items()), [(name, list(conns)) for name, conns in self.table.shared.items()]

    def snapshot(self, copied=None):
        exclusive, shared = copied or self.copy()
        holders = []
        for name, conn in exclusive:
            hold = conn.exclusive.get(name)
            if hold is not None:  # else released since the copy
                holders.append(self._row(name, "exclusive", conn, hold))
        for name, conns in shared:
            for conn in conns:
                hold = conn.shared.get(name)
                if hold is not None:
                    holders.append(self._row(name, "shared", conn, hold))
        return {"pid": os.getpid(), "host": host_name(), "bind": self.bind, "backend": self.table.backend,
                "updated": time.time(), "holders": holders}

    def _row(self, name, mode, conn, hold):
        return {"file": self.table.file_name(name), "name": _text(name), "mode": mode,
                "client": _text(conn.holder_name()), "address": _text(conn.address),
                "since": _iso(hold.since), "token": hold.token}

    def stop(self):
        if self._task is not None:
            self._task.cancel()
        with self._guard:
            self._stopped = True
            self.store.remove()


class _FileStore:
    def __init__(self, path):
        self.path = path

    def write(self, data):
        write_table(self.path, data)

    def remove(self):
        remove_table(self.path)
