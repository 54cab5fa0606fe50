"""Publish the server's holder table (see ``locks.published``) while it runs.

The table is copied in the event loop (cheap) and written by a thread, so
a large table never stalls the clients. Writing at most every INTERVAL_S
keeps the cost per lock operation near zero at any rate.
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
            if version != published or loop.time() - last > HEARTBEAT_S:
                data = self.snapshot()
                try:
                    await loop.run_in_executor(None, self._write, data)
                except Exception as exc:  # the dashboard is a side show
                    log.warning("could not publish the lockd table: %s", exc)
                published, last = version, loop.time()
            await asyncio.sleep(INTERVAL_S)

    def _write(self, data):
        with self._guard:
            if not self._stopped:
                self.store.write(data)

    def snapshot(self):
        table = self.table
        holders = []
        for name, conn in table.exclusive.items():
            hold = conn.exclusive[name]
            holders.append(self._row(name, "exclusive", conn, hold))
        for name, conns in table.shared.items():
            for conn in conns:
                holders.append(self._row(name, "shared", conn, conn.shared[name]))
        return {"pid": os.getpid(), "host": host_name(), "bind": self.bind, "backend": table.backend,
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
