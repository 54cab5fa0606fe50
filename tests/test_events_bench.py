"""The event bench measures the server's delay, not the watcher's absence."""
from bench.events_bench import delays


def test_versions_published_before_a_stream_opened_are_not_its_delay():
    published = [(1, 0.0), (2, 1.0), (3, 5.0), (4, 6.0)]
    # Connected at 4.0 s (its first event carries version 2), then got 4 at 6.2 s.
    stream = [(2, 4.0), (4, 6.2)]
    measured = delays(published, [stream, []])
    assert [round(d, 3) for d in measured] == [1.2, 0.2]  # versions 3 and 4 only
