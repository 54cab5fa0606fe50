"""`k2 build` and `k2 status`: the command line view of builds."""
import json
import sys
import time

from django.core.management.base import CommandError

from trophies.models import Build, Trophy
from trophies.services import builds
from trophies.services.build_status import status_of
from trophies.services.build_watch import BuildWatch

LOG_EVERY_S = 5
BAR_WIDTH = 30


def format_seconds(seconds):
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60:02d}:{seconds % 60:02d}"


def progress_line(status):
    filled = int(BAR_WIDTH * status["percent"] / 100)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return (f"[{bar}] {status['percent']:5.1f}% {status['done']:,}/{status['total']:,} "
            f"{status['rate_per_s']:,.0f}/s ETA {format_seconds(status['eta_s'])} {status['state']}")


def build_command(slug, wait, out, confirm_disk=False):
    trophy = Trophy.objects.filter(slug=slug).first()
    if trophy is None:
        raise CommandError(f"no trophy {slug!r} (known: {', '.join(Trophy.objects.values_list('slug', flat=True))})")
    try:
        build = builds.start_build(trophy, requested_by="k2 build", confirm_disk=confirm_disk)
    except builds.BuildAlreadyRunning as error:
        raise CommandError(f"{error}; watch it with: k2 status {error.build.pk}") from None
    except builds.BuildWouldNotFit as error:
        raise CommandError(f"{error} (k2 build --force)") from None
    except builds.BuildError as error:
        raise CommandError(str(error)) from None
    out.write(f"Build {build.pk} of {slug}: {build.total:,} combinations in {build.chunks.count()} chunks")
    if not wait:
        return 0
    return wait_for(build, out)


def wait_for(build, out):
    """Redraw on the build's news from Redis (polling when pub/sub fails)."""
    with BuildWatch(build.pk) as watch:
        return _follow(build, out, watch)


def _follow(build, out, watch):
    interactive = sys.stdout.isatty()
    last_line, next_log = "", 0.0
    if not watch.live:
        out.write("live updates unavailable, refreshing every 0.5 s")
    while True:
        build.refresh_from_db()
        status = status_of(build)
        line = progress_line(status)
        if interactive:  # one bar redrawn in place
            out.write("\r" + line.ljust(len(last_line)), ending="")
            out.flush()
        elif time.monotonic() >= next_log:  # logs and pipes: a line every few seconds
            out.write(line)
            next_log = time.monotonic() + LOG_EVERY_S
        last_line = line
        if not build.is_active:
            break
        watch.wait()
    if interactive:
        out.write("")
    out.write(f"Build {build.pk} {build.state}: {status['rendered']:,} rendered, {status['skipped']:,} skipped, "
              f"{status['failed']:,} failed in {format_seconds(status['elapsed_s'])}")
    return 0 if build.state == Build.DONE else 1


def status_command(build_id, as_json, out):
    build = Build.objects.select_related("trophy").filter(pk=build_id).first()
    if build is None:
        raise CommandError(f"no build {build_id}")
    status = status_of(build)
    if as_json:
        out.write(json.dumps(status))
    else:
        for key, value in status.items():
            out.write(f"{key}: {value}")
    return 0
