"""A new version reaches every watcher of a feed, COHORT watchers per turn
of the event loop, so a request arriving meanwhile is not kept waiting
behind all of them."""
import asyncio
from collections import Counter

from tests.conftest import run_in_own_loop
from trophies.services import build_feeds


def test_every_watcher_wakes_and_no_turn_of_the_loop_wakes_more_than_a_cohort():
    async def wake(watchers):
        feed = build_feeds.BuildFeed(build_feeds.Hub("redis://unused"), build_id=1)
        feed.task.cancel()  # no reads: this test drives the fan-out itself
        turn = 0

        async def count_turns():
            nonlocal turn
            while True:
                turn += 1
                await asyncio.sleep(0)

        woke_at = []

        async def watcher():
            if await feed.next_snapshot(timeout=5):
                woke_at.append(turn)

        waiting = [asyncio.create_task(watcher()) for _ in range(watchers)]
        await asyncio.sleep(0)  # all of them wait
        ticker = asyncio.create_task(count_turns())
        await feed.fan_out()
        await asyncio.gather(*waiting)
        ticker.cancel()
        return woke_at

    woke_at = run_in_own_loop(wake(3 * build_feeds.COHORT + 5))
    assert len(woke_at) == 3 * build_feeds.COHORT + 5
    per_turn = Counter(woke_at)
    assert max(per_turn.values()) <= build_feeds.COHORT
    assert len(per_turn) >= 4  # spread over as many turns as cohorts
