"""Run the lockd server: one event loop (uvloop when installed), one table.

One process answers every client from memory and the kernel, so the
table needs no locking of its own; past one core, run more servers (see
the README's Locks section).
"""
import asyncio
import gc
import logging
import resource
import signal

from locks.server.commands import Commands
from locks.server.protocol import Connection
from locks.server.publish import Publisher
from locks.server.stats import ServerStats

__all__ = ("make_table", "serve")

log = logging.getLogger(__name__)


def make_table(backend, stats):
    if backend == "postgres":
        from locks.server.pgtable import PostgresTable

        return PostgresTable(stats)
    from locks.server.table import FlockTable

    return FlockTable(stats)


def _raise_fd_limit():
    # Every idle client is an fd, every lock one more.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _new_loop():
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(host, port, backend="flock", dump=True, registry=True, ready=None):
    """Serve until SIGINT/SIGTERM. ``ready(address)`` is called once listening."""
    _raise_fd_limit()
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    stats = ServerStats()
    table = make_table(backend, stats)
    commands = Commands(table, stats, dump=dump, registry=registry)
    # Everything loaded so far (Django, the app: ~80,000 objects) lives as
    # long as the server: out of the collector's sight, a full collection
    # costs microseconds instead of ~25 ms, a stall every client would see.
    gc.collect()
    gc.freeze()
    try:
        loop.run_until_complete(_serve(loop, host, port, table, commands, ready))
    finally:
        table.close()
        loop.close()


async def _serve(loop, host, port, table, commands, ready):
    if hasattr(table, "start"):
        await table.start()
    server = await loop.create_server(lambda: Connection(commands), host, port, backlog=4096, reuse_address=True)
    address = server.sockets[0].getsockname()
    bind = f"{address[0]}:{address[1]}"
    publisher = Publisher(table, bind, getattr(table, "publish_store", None))
    publisher.start()
    stop = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    if ready:
        ready(bind)
    try:
        await stop
    finally:
        server.close()
        for conn in list(commands.connections):
            conn.transport.abort()
        await asyncio.sleep(0)  # let connection_lost release what they held
        publisher.stop()
