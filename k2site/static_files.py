"""Static files under content-hashed names (collectstatic's manifest), so a
deploy changes their URLs and nothing stale is ever served; hashed files are
cached for a year as immutable, like rendered images."""
import re

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage

IMMUTABLE = "public, max-age=31536000, immutable"
HASHED_NAME = re.compile(r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$")


class VersionedStaticStorage(ManifestStaticFilesStorage):
    """Without collectstatic (tests, a fresh checkout) names stay plain instead
    of failing: plain names get WhiteNoise's short cache, so nothing goes stale."""

    manifest_strict = False
    # Deform ships scripts whose source maps it does not ship: do not follow
    # sourceMappingURL comments (browsers only fetch maps in developer tools).
    patterns = tuple(
        (extension, tuple(p for p in found if "sourceMappingURL" not in (p if isinstance(p, str) else p[0])))
        for extension, found in ManifestStaticFilesStorage.patterns
    )

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:  # not collected: nothing to hash
            return name


def add_cache_headers(headers, path, url):
    """WhiteNoise hook: a year, immutable, for hashed names."""
    if HASHED_NAME.search(url):
        headers["Cache-Control"] = IMMUTABLE
