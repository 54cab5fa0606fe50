"""Reading a catalog archive safely: a zip whose every name, size and byte
is checked before anything in it is believed.

:func:`read_archive` returns the manifest (checked against the format, see
:mod:`trophies.services.archive`) and the decoded layer bytes, or raises
:class:`ArchiveRejected` with one message a person can act on. It never
writes anything and never extracts to disk: members are read into memory
with a cap, so a header that lies about its size cannot exhaust memory.
"""
import json
import re
import zipfile

from django.conf import settings

from trophies.models import FORMATS, MAX_CANVAS, MIN_CANVAS
from trophies.services import layers
from trophies.texts import control_character_problem
from trophies.trophy_limits import shape_problem

FORMAT_NAME = "k2-catalog"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 5 * 1024 * 1024
MAX_MEMBERS = 20_000
MAX_TOTAL_BYTES = 1024 * 1024 * 1024   # uncompressed, all members together
MAX_RATIO = 200                        # uncompressed / compressed, for members over RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
KEY = re.compile(r"[-a-zA-Z0-9_]{1,50}")  # fullmatch: "$" would let a trailing newline through
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ArchiveRejected(ValueError):
    """An archive that cannot be imported; the message says why. Nothing was changed."""


def layer_path(component_key, option_key):
    """Where an option's layer lives in an archive."""
    return f"layers/{component_key}/{option_key}.png"


def read_archive(source):
    """(manifest dict, {layer path: PNG bytes}) of a zip file (path or binary file)."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        raise ArchiveRejected("The file is not a catalog archive: it is not a zip file.") from None
    with archive:
        members = check_members(archive.infolist())
        manifest = check_manifest(read_member(archive, members.pop(MANIFEST, None), MAX_MANIFEST_BYTES))
        wanted = {option["layer"] for component in manifest["components"] for option in component["options"]}
        missing = sorted(wanted - set(members))
        if missing:
            raise ArchiveRejected(f"The archive is incomplete: the manifest names {missing[0]}, which is not in it.")
        extra = sorted(set(members) - wanted)
        if extra:
            raise ArchiveRejected(f"The archive holds a file its manifest does not name: {extra[0]}.")
        pictures = {}
        for component in manifest["components"]:
            for option in component["options"]:
                data = read_member(archive, members[option["layer"]], layers.MAX_LAYER_BYTES)
                pictures[option["layer"]] = check_layer(option, data, f"{component['key']}/{option['key']}")
    return manifest, pictures


def check_members(infos):
    """{name: ZipInfo} of safe member names, within the count and size limits."""
    if len(infos) > MAX_MEMBERS:
        raise ArchiveRejected(f"The archive holds {len(infos):,} files; the limit is {MAX_MEMBERS:,}.")
    members, total = {}, 0
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        parts = name.split("/")
        if (name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name)
                or any(part in ("", ".", "..") for part in parts)):
            raise ArchiveRejected(f"The archive holds a file with an unsafe name: {name!r}.")
        if name in members:
            raise ArchiveRejected(f"The archive holds {name} twice.")
        if info.flag_bits & 0x1:
            raise ArchiveRejected(f"The archive is encrypted ({name}); export it again without a password.")
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise ArchiveRejected(f"The archive looks like a zip bomb: {name} would unpack to "
                                  f"{info.file_size:,} bytes from {info.compress_size:,}.")
        members[name] = info
    if total > MAX_TOTAL_BYTES:
        raise ArchiveRejected(f"The archive would unpack to {total:,} bytes; the limit is {MAX_TOTAL_BYTES:,}.")
    return members


def read_member(archive, info, limit):
    if info is None:
        raise ArchiveRejected(f"The archive has no {MANIFEST}: it is not a catalog archive.")
    if info.file_size > limit:
        raise ArchiveRejected(f"{info.filename} is {info.file_size:,} bytes; the limit is {limit:,}.")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)  # the header's size may lie: never read more than the limit
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as error:
        raise ArchiveRejected(f"{info.filename} in the archive is damaged ({error}).") from None
    if len(data) > limit:
        raise ArchiveRejected(f"{info.filename} unpacks to more than {limit:,} bytes.")
    return data


def check_layer(option, data, label):
    if not data.startswith(PNG_SIGNATURE):
        raise ArchiveRejected(f"The layer of {label} is not a PNG picture.")
    try:
        image = layers.decode_layer(data)
    except layers.LayerRejected as error:
        raise ArchiveRejected(f"The layer of {label} is refused: {error}.") from None
    if layers.pixel_digest(image) != option["digest"]:
        raise ArchiveRejected(f"The layer of {label} does not match its digest: the archive is damaged.")
    return data


# -- the manifest ------------------------------------------------------------------


def check_manifest(data):
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ArchiveRejected(f"The archive's {MANIFEST} is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ArchiveRejected(f"The archive's {MANIFEST} is not a K2 catalog manifest.")
    if manifest.get("version") != VERSION:
        raise ArchiveRejected(f"The archive's format version is {manifest.get('version')!r}; this site reads "
                              f"version {VERSION}. Export it again from a site of the same version.")
    try:
        check_catalog(manifest)
    except (KeyError, TypeError, AttributeError) as error:
        raise ArchiveRejected(f"The archive's {MANIFEST} is malformed (missing or wrong {error}).") from None
    return manifest


def _require(condition, message):
    if not condition:
        raise ArchiveRejected(f"The archive's {MANIFEST} is malformed: {message}.")


def _text(value, what, limit=100):
    _require(isinstance(value, str) and len(value) <= limit, f"{what} must be a text of at most {limit} characters")
    problem = control_character_problem(value)
    _require(problem is None, f"{what} is refused: {problem and problem[:1].lower() + problem[1:-1]}")


def _key(value, what):
    _require(isinstance(value, str) and KEY.fullmatch(value),
             f"{what} {value!r} is not a key (letters, digits, - and _)")


def _int(value, what, low=None, high=None):
    _require(isinstance(value, int) and not isinstance(value, bool), f"{what} must be a whole number")
    _require((low is None or value >= low) and (high is None or value <= high),
             f"{what} is {value}; it must be between {low} and {high}")


def _list(value, what):
    _require(isinstance(value, list), f"{what} must be a list")
    return value


def check_catalog(manifest):
    options_of = {}
    for component in _list(manifest["components"], "components"):
        _key(component["key"], "component key")
        _require(component["key"] not in options_of, f"component {component['key']} appears twice")
        _text(component["name"], f"the name of component {component['key']}")
        keys = options_of[component["key"]] = set()
        for option in _list(component["options"], f"the options of {component['key']}"):
            _key(option["key"], f"an option key of {component['key']}")
            label = f"{component['key']}/{option['key']}"
            _require(option["key"] not in keys, f"option {label} appears twice")
            keys.add(option["key"])
            _text(option["label"], f"the label of {label}")
            _int(option["position"], f"the position of {label}", 0, 2**31 - 1)
            _require(option["layer"] == layer_path(component["key"], option["key"]),
                     f"the layer of {label} must be {layer_path(component['key'], option['key'])}")
            _require(isinstance(option["digest"], str) and re.match(r"^[0-9a-f]{64}$", option["digest"]),
                     f"the digest of {label} must be 64 hex digits")
    slugs = set()
    for trophy in _list(manifest["trophies"], "trophies"):
        _key(trophy["slug"], "trophy slug")
        slug = trophy["slug"]
        _require(slug not in slugs, f"trophy {slug} appears twice")
        slugs.add(slug)
        _text(trophy["name"], f"the name of trophy {slug}")
        _int(trophy["width"], f"the width of {slug}", MIN_CANVAS, MAX_CANVAS)
        _int(trophy["height"], f"the height of {slug}", MIN_CANVAS, MAX_CANVAS)
        _require(trophy["format"] in dict(FORMATS), f"the format of {slug} must be one of {', '.join(dict(FORMATS))}")
        tiers = _list(trophy["tiers"], f"the tiers of {slug}")
        problem = shape_problem([len(_list(tier["slots"], f"the slots of {slug}")) for tier in tiers])
        _require(problem is None, f"trophy {slug} is over a limit ({problem and problem[:-1]})")
        slot_keys, combinations = set(), 1
        for tier in tiers:
            _text(tier["name"], f"a tier name of {slug}")
            for slot in _list(tier["slots"], f"the slots of {slug}"):
                _key(slot["key"], f"a slot key of {slug}")
                _require(slot["key"] not in slot_keys, f"slot {slot['key']} appears twice in {slug}")
                slot_keys.add(slot["key"])
                _require(slot["component"] in options_of,
                         f"slot {slug}/{slot['key']} uses the component {slot['component']!r}, which is not in the archive")
                _int(slot["x"], f"the x offset of {slug}/{slot['key']}", -MAX_CANVAS, MAX_CANVAS)
                _int(slot["y"], f"the y offset of {slug}/{slot['key']}", -MAX_CANVAS, MAX_CANVAS)
                allowed = _list(slot["options"], f"the options of {slug}/{slot['key']}")
                for key in allowed:
                    _require(key in options_of[slot["component"]],
                             f"slot {slug}/{slot['key']} allows {slot['component']}/{key}, which is not in the archive")
                _require(len(set(allowed)) == len(allowed), f"slot {slug}/{slot['key']} names an option twice")
                combinations *= len(allowed)
        _require(combinations <= settings.K2_MAX_COMBINATIONS,
                 f"{slug} has {combinations:,} combinations; the limit is {settings.K2_MAX_COMBINATIONS:,}")
