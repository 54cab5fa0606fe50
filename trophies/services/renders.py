"""Where rendered images live and what their names are made of.

An image's path is its fingerprint: a token for the render settings (engine
version, canvas, format) and one token per slot for the chosen option's layer
pixels and the slot's offset. So a rebuild finds images that are already
right by name, a replaced layer changes only the names that use it, and the
storefront page can build any image's URL from per-option tokens without a
round trip. Files are written atomically: a reader never sees a partial one.
"""
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from trophies import engine

DIR_LEVELS = 2  # leading tokens used as directories, so no folder holds every file


def _token(text):
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def settings_token(plan):
    return _token(f"{engine.ENGINE_VERSION}:{plan.width}x{plan.height}:{plan.format}:{len(plan.slots)}")


def option_token(position, slot, option):
    return _token(f"{position}:{option.digest}:{slot.x}:{slot.y}")


def name_tokens(plan):
    """(settings token, [[option token per option] per slot]) of a plan's image names."""
    return settings_token(plan), [[option_token(p, slot, o) for o in slot.options] for p, slot in enumerate(plan.slots)]


def relative_path(settings_tok, tokens, extension):
    """'<settings>/<t0>/<t1>/<t2>-<t3>-<t4>.jpg' (fewer directories when
    there are fewer slots)."""
    levels = min(DIR_LEVELS, len(tokens) - 1)
    return "/".join([settings_tok, *tokens[:levels], "-".join(tokens[levels:]) + extension])


@dataclass
class RenderLayout:
    """Everything needed to name a trophy's images, computed once per chunk.

    Paths are plain strings: a chunk names thousands of files a second."""

    root: str           # K2_RENDER_DIR/<slug>
    url_root: str       # RENDER_URL<slug>/
    settings_token: str
    tokens: list        # per slot, per option
    extension: str

    @classmethod
    def for_plan(cls, plan):
        settings_tok, tokens = plan.name_tokens
        return cls(
            root=str(Path(settings.K2_RENDER_DIR) / plan.slug),
            url_root=f"{settings.RENDER_URL}{plan.slug}/",
            settings_token=settings_tok,
            tokens=tokens,
            extension=engine.FORMATS[plan.format],
        )


    def relative(self, digits):
        tokens = [self.tokens[position][digit] for position, digit in enumerate(digits)]
        return relative_path(self.settings_token, tokens, self.extension)

    def path(self, digits):
        return f"{self.root}/{self.relative(digits)}"

    def url(self, digits):
        return self.url_root + self.relative(digits)


class ExistingFiles:
    """Answers "is this file there?" from one directory listing per folder
    instead of a stat per file."""

    def __init__(self):
        self.listings = {}

    def __contains__(self, path):
        directory, name = path.rsplit("/", 1)
        listing = self.listings.get(directory)
        if listing is None:
            try:
                listing = self.listings[directory] = set(os.listdir(directory))
            except (FileNotFoundError, NotADirectoryError):  # the writer says what is wrong
                listing = self.listings[directory] = set()
        return name in listing


class AtomicWriter:
    """Writes files through a private temporary directory and a rename.

    The temporary directory belongs to one writer (one chunk), so a writer
    that starts over after a crash removes what its dead predecessor left.
    ``before_rename`` (if given) runs after a file is written and before it
    takes its name: a fencing check that raises to drop the file.
    """

    def __init__(self, root, name, before_rename=None):
        self.scratch = os.path.join(root, ".tmp", name)
        self.known_dirs = set()
        self.before_rename = before_rename

    def __enter__(self):
        self.discard_scratch()
        os.makedirs(self.scratch)
        return self

    def __exit__(self, *exc):
        self.discard_scratch()

    def discard_scratch(self):
        if os.path.isdir(self.scratch):
            for leftover in os.listdir(self.scratch):
                os.unlink(os.path.join(self.scratch, leftover))
            os.rmdir(self.scratch)

    def write(self, path, data):
        directory, name = path.rsplit("/", 1)
        if directory not in self.known_dirs:
            os.makedirs(directory, exist_ok=True)
            self.known_dirs.add(directory)
        temporary = f"{self.scratch}/{name}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            if self.before_rename is not None:
                self.before_rename()
            os.replace(temporary, path)
        except BaseException:
            # No partial file stays behind, under its name or in the scratch dir.
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def write_all(fd, data):
    """os.write until every byte is written: one call may write fewer."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
