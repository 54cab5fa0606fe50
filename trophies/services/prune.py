"""Removing what no current combination names: rendered images of old
fingerprints, renders of deleted trophies, and layer files no option and no
running build names (`k2 prune`, and after a build settles).

A render file is current when a plan names it: its trophy's current plan or
the plan of any of its active builds. Checking a name does not list every
combination (a trophy may have millions): a file
``<settings>/<t0>/<t1>/<t2>-...-<tn><ext>`` is named by a plan iff the
settings token and extension are the plan's and token i is one of slot i's
option tokens (see :mod:`renders`).

Safety: only files older than ``K2_PRUNE_AFTER_S`` go (pages and caches may
still link the old URLs, and an on-demand render just written is young);
``.tmp`` scratch directories (files being written) are never entered;
symbolic links are neither followed nor removed; layer files are removed
under the component's exclusive asset lock, which renders hold shared.
"""
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from locks import LockTimeout, exclusive
from trophies.models import Build, Option, Trophy
from trophies import engine
from trophies.services import layers, plans
from trophies.services.renders import DIR_LEVELS, name_tokens

SCRATCH = ".tmp"
QUEUE = "default"  # not "render": a prune never delays a build
log = logging.getLogger(__name__)


@dataclass
class PruneResult:
    files: int = 0
    bytes: int = 0
    paths: list = field(default_factory=list)
    skipped: list = field(default_factory=list)   # why something was left (a busy lock)
    dry_run: bool = False

    def add(self, path, size):
        self.files += 1
        self.bytes += size
        self.paths.append(str(path))

    def summary(self):
        verb = "would free" if self.dry_run else "freed"
        return f"{verb} {self.files:,} files, {self.bytes:,} bytes"


@dataclass
class Usage:
    """Disk use of a trophy's renders: every file, and those nothing current names."""

    files: int = 0
    bytes: int = 0
    obsolete_files: int = 0
    obsolete_bytes: int = 0


class NameCheck:
    """Answers "does one of these plans name this relative path?"."""

    def __init__(self, plan_list):
        self.shapes = []
        for plan in plan_list:
            settings_tok, tokens = name_tokens(plan)
            self.shapes.append((settings_tok, [set(slot) for slot in tokens], engine.FORMATS[plan.format]))

    def __contains__(self, parts):
        for settings_tok, slot_tokens, extension in self.shapes:
            if parts[0] != settings_tok or not parts[-1].endswith(extension) or not slot_tokens:
                continue
            levels = min(DIR_LEVELS, len(slot_tokens) - 1)
            if len(parts) != levels + 2:
                continue
            tokens = list(parts[1:-1]) + parts[-1][: -len(extension)].split("-")
            if len(tokens) == len(slot_tokens) and all(t in allowed for t, allowed in zip(tokens, slot_tokens)):
                return True
        return False


def plans_in_use(trophy):
    """Its current plan (read now, not cached) and its active builds' plans."""
    found = [plans.capture(trophy)]
    for data in Build.objects.filter(trophy=trophy, state__in=Build.ACTIVE).values_list("plan", flat=True):
        if data:
            found.append(plans.Plan.from_json(data))
    return found


def walk_files(root):
    """(relative parts, path, stat) of regular files under root: no links
    followed, no scratch directories entered."""
    stack = [(Path(root), ())]
    while stack:
        directory, parts = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name != SCRATCH:
                    stack.append((Path(entry.path), parts + (entry.name,)))
            elif entry.is_file(follow_symlinks=False):
                try:
                    yield parts + (entry.name,), entry.path, entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue


def trophy_dirs(slug=None):
    """(slug, directory) of render directories (real ones, not links)."""
    root = Path(settings.K2_RENDER_DIR)
    names = [slug] if slug else (sorted(os.listdir(root)) if root.is_dir() else [])
    for name in names:
        path = root / name
        if name.startswith(".") or path.is_symlink() or not path.is_dir():
            continue
        yield name, path


def prune_renders(slug=None, dry_run=False, now=None, result=None):
    """Remove old render files no current plan names (all of a deleted
    trophy's). Returns the PruneResult."""
    result = result or PruneResult(dry_run=dry_run)
    cutoff = (now or time.time()) - settings.K2_PRUNE_AFTER_S
    for name, directory in trophy_dirs(slug):
        trophy = Trophy.objects.filter(slug=name).first()
        check = NameCheck(plans_in_use(trophy)) if trophy else NameCheck([])
        candidates = [(path, stat.st_size) for parts, path, stat in walk_files(directory)
                      if stat.st_mtime < cutoff and parts not in check]
        if trophy and not dry_run:
            # A build may have started or the trophy changed while we walked: ask again.
            check = NameCheck(plans_in_use(trophy))
            candidates = [(p, size) for p, size in candidates
                          if Path(p).relative_to(directory).parts not in check]
        for path, size in candidates:
            if not dry_run:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
            result.add(path, size)
        if not dry_run:
            remove_empty_dirs(directory)
    return result


def remove_empty_dirs(top):
    """Directories emptied by the prune go too (never a scratch dir or the top)."""
    for directory, subdirs, files in os.walk(top, topdown=False):
        if directory == str(top) or SCRATCH in Path(directory).parts:
            continue
        try:
            os.rmdir(directory)
        except OSError:
            pass  # not empty, or a writer just put something in it


def named_layers():
    names = set(Option.objects.values_list("layer", flat=True))
    for data in Build.objects.filter(state__in=Build.ACTIVE).values_list("plan", flat=True):
        if data:
            names |= {option.layer for slot in plans.Plan.from_json(data).slots for option in slot.options}
    return names


def prune_layers(dry_run=False, now=None, result=None):
    """Remove layer files that no option and no active build names, older
    than the grace period (a replaced layer's file is stamped when it stopped
    being current)."""
    result = result or PruneResult(dry_run=dry_run)
    cutoff = (now or time.time()) - settings.K2_PRUNE_AFTER_S
    root = Path(settings.MEDIA_ROOT) / "layers"
    if not root.is_dir():
        return result
    for component_dir in sorted(root.iterdir()):
        if component_dir.is_symlink() or not component_dir.is_dir():
            continue
        try:
            with exclusive(layers.asset_lock_name(component_dir.name), timeout=layers.ASSET_LOCK_TIMEOUT_S,
                           owner="k2 prune"):
                named = named_layers()  # read under the lock: no layer can become current meanwhile
                for parts, path, stat in walk_files(component_dir):
                    name = "/".join(("layers", component_dir.name, *parts))
                    if name in named or stat.st_mtime >= cutoff:
                        continue
                    if not dry_run:
                        os.unlink(path)
                    result.add(path, stat.st_size)
        except LockTimeout:
            result.skipped.append(f"layers of {component_dir.name}: busy, left for the next prune")
    return result


def prune(slug=None, dry_run=False, now=None):
    """Renders (of ``slug``, or every trophy and deleted trophy) and, for a
    whole-site prune, unused layer files."""
    result = prune_renders(slug, dry_run, now)
    if slug is None:
        prune_layers(dry_run, now, result)
    return result


def disk_usage(slug):
    """Usage of one trophy's render directory (walks it: cache the answer)."""
    usage = Usage()
    directory = Path(settings.K2_RENDER_DIR) / slug
    if directory.is_symlink() or not directory.is_dir():
        return usage
    trophy = Trophy.objects.filter(slug=slug).first()
    check = NameCheck(plans_in_use(trophy)) if trophy else NameCheck([])
    for parts, _path, stat in walk_files(directory):
        usage.files += 1
        usage.bytes += stat.st_size
        if parts not in check:
            usage.obsolete_files += 1
            usage.obsolete_bytes += stat.st_size
    return usage


def enqueue_after_build(build_id):
    """Queue the prune of a settled build's trophy (trophies.jobs.prune_after_build).
    Never fails the build: without Redis or a worker on the queue, nothing is pruned."""
    try:
        import django_rq

        django_rq.get_queue(QUEUE).enqueue("trophies.jobs.prune_after_build", build_id,
                                           job_id=f"k2-prune-after-build{build_id}", result_ttl=3600,
                                           description=f"prune after build {build_id}")
    except Exception as error:  # Redis down: the next `k2 prune` does it
        log.warning("prune after build %s not queued (%s)", build_id, error)
