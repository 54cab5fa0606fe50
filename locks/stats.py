"""Lock statistics: counters from Redis plus what is held now.

One dict feeds the JSON API, ``/locks/stats.txt`` and the ``k2 locks``
command, like a lock daemon's "stats" command: ``name: value`` lines that
munin or nagios can read with curl.
"""
from locks import counters

__all__ = ("collect", "stat_lines", "format_text")

# The order of the text lines; monitors may rely on the names, not the order.
TEXT_FIELDS = (
    "acquisitions", "waits", "timeouts", "wait_avg_ms", "wait_max_ms", "wait_total_ms", "orphans",
    "held_exclusive", "held_shared", "shared_holders", "waiting", "counters_available",
)


def collect(exclusive, shared, waiters):
    """The "stats" part of a snapshot. Counters are None while Redis is down."""
    counts = counters.read()
    stats = {
        "held_exclusive": len(exclusive),
        "held_shared": len(shared),
        "shared_holders": sum(lock["count"] for lock in shared),
        "waiting": len(waiters),
        "counters_available": counts is not None,
    }
    if counts is None:
        stats.update(dict.fromkeys(("acquisitions", "waits", "timeouts", "wait_avg_ms", "wait_max_ms",
                                    "wait_total_ms", "orphans")))
        return stats
    waits = counts["waits"]
    stats.update(
        acquisitions=counts["acquisitions"],
        waits=waits,
        timeouts=counts["timeouts"],
        # The average over acquisitions that had to wait; the others waited 0.
        wait_avg_ms=round(counts["wait_total_us"] / waits / 1000, 3) if waits else 0.0,
        wait_max_ms=round(counts["wait_max_us"] / 1000, 3),
        wait_total_ms=round(counts["wait_total_us"] / 1000, 3),
        orphans=counts["orphans"],
    )
    return stats


def stat_lines(stats):
    """``name: value`` lines; "U" (munin's unknown) while Redis is down."""
    lines = []
    for key in TEXT_FIELDS:
        value = stats.get(key)
        if isinstance(value, bool):
            value = int(value)
        lines.append(f"{key}: {'U' if value is None else value}")
    return "\n".join(lines) + "\n"


def format_text(snapshot):
    """The stat lines, then a table of held locks and waiters, for terminals."""
    rows = []
    for lock in snapshot["exclusive"]:
        rows.append(("exclusive", lock["name"], lock["pid"], lock["host"], lock["owner"], lock["since"]))
    for lock in snapshot["shared"]:
        for i, holder in enumerate(lock["holders"]):
            mode = f"shared ({lock['count']})" if i == 0 else ""
            rows.append((mode, lock["name"] if i == 0 else "", holder["pid"], holder["host"], holder["owner"], holder["since"]))
    for waiter in snapshot.get("waiters", []):
        rows.append((f"waiting ({waiter['mode']})", waiter["name"], waiter["pid"], waiter["host"], waiter["owner"], waiter["since"]))
    text = stat_lines(snapshot["stats"]) + "\n"
    if not rows:
        return text + "no locks held\n"
    header = ("MODE", "NAME", "PID", "HOST", "OWNER", "SINCE")
    table = [header] + [tuple("-" if v is None else str(v) for v in row) for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        text += "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n"
    return text
