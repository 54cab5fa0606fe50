"""Catalog archives: export, import matching by key, all or nothing, and
every kind of bad archive refused with one message and no change."""
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from PIL import Image

from tests.builds_support import expected_files
from tests.forms_support import make_catalog, png_bytes
from trophies.models import Build, Component, Option, Slot, Tier, Trophy
from trophies.services import archive, catalog, plans
from trophies.services.archive_reader import MAX_RATIO, ArchiveRejected
from trophies.services.demo import create_demo_catalog
from trophies.services.renderer import load_renderer


def small_trophy(slug="cup"):
    parts = make_catalog()
    trophy = Trophy.objects.create(slug=slug, name="Cup", width=40, height=30, format="PNG")
    tier = Tier.objects.create(trophy=trophy, position=0)
    for position, (key, options) in enumerate(parts.items()):
        slot = Slot.objects.create(tier=tier, key=key, component=options[0].component, position=position,
                                   x=position * 3, y=position)
        slot.options.set(options)
    return trophy


def catalog_state():
    """Everything an import may change, comparable across sites (no ids)."""
    return {
        "components": sorted((c.key, c.name) for c in Component.objects.all()),
        "options": sorted((o.component.key, o.key, o.label, o.position, o.layer_digest)
                          for o in Option.objects.select_related("component")),
        "trophies": [archive.trophy_entry(t) for t in Trophy.objects.order_by("slug")],
    }


def media_files():
    root = Path(settings.MEDIA_ROOT)
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def wipe_catalog():
    """A fresh site: no catalog rows, no layer files."""
    Build.objects.all().delete()
    Trophy.objects.all().delete()
    Component.objects.all().delete()
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def comparable(plan):
    """What names and draws a plan's images, without site-specific ids and file names."""
    return (plan.name_tokens, plan.width, plan.height, plan.format,
            [(s.key, s.component, s.x, s.y, [(o.key, o.digest) for o in s.options]) for s in plan.slots])


def test_round_trip_of_the_whole_demo_catalog_renders_the_same_images(db, tmp_path):
    create_demo_catalog()
    before = catalog_state()
    classic = plans.capture(Trophy.objects.get(slug="classic"))
    renderer, layout = load_renderer(classic)
    sample = {layout.relative(digits): data for _, digits, data in renderer.render_range(0, 120)}
    starter = expected_files(plans.capture(Trophy.objects.get(slug="starter")))
    call_command("k2", "export", "-o", str(tmp_path / "demo.zip"))

    wipe_catalog()
    assert not media_files()
    call_command("k2", "import", str(tmp_path / "demo.zip"))

    assert catalog_state() == before
    imported = plans.capture(Trophy.objects.get(slug="classic"))
    assert comparable(imported) == comparable(classic)
    renderer, layout = load_renderer(imported)
    assert {layout.relative(digits): data for _, digits, data in renderer.render_range(0, 120)} == sample
    assert expected_files(plans.capture(Trophy.objects.get(slug="starter"))) == starter


def test_export_of_one_trophy_holds_it_and_its_parts_only(db, tmp_path):
    small_trophy()
    Component.objects.create(key="unused", name="Unused")
    trophies, option_count = archive.export_catalog(tmp_path / "cup.zip", ["cup"])
    assert (trophies, option_count) == (1, 9)
    with zipfile.ZipFile(tmp_path / "cup.zip") as zipped:
        manifest = json.loads(zipped.read("manifest.json"))
        assert sorted(zipped.namelist()) == sorted(
            ["manifest.json"] + [o["layer"] for c in manifest["components"] for o in c["options"]])
    assert (manifest["format"], manifest["version"]) == ("k2-catalog", 1)
    assert [c["key"] for c in manifest["components"]] == ["base", "figure", "plate"]
    assert [t["slug"] for t in manifest["trophies"]] == ["cup"]
    with pytest.raises(ArchiveRejected, match="no trophy 'nope'"):
        archive.export_catalog(tmp_path / "x.zip", ["nope"])


def test_dry_run_lists_creates_changes_and_unchanged_and_changes_nothing(db, tmp_path):
    trophy = small_trophy()
    archive.export_catalog(tmp_path / "cup.zip")
    option = Option.objects.get(component__key="figure", key="figure-1")
    option.label = "Renamed here"
    option.save()
    Option.objects.get(component__key="plate", key="plate-1").delete()
    trophy.width = 99
    trophy.save()
    state, files = catalog_state(), media_files()

    report = archive.import_catalog(tmp_path / "cup.zip", dry_run=True)
    assert "option figure/figure-1: label" in report.changed
    assert "option plate/plate-1" in report.created
    assert "trophy cup: width, tiers and slots" in report.changed
    assert "part base" in report.unchanged
    assert catalog_state() == state and media_files() == files

    out = io.StringIO()
    call_command("k2", "import", str(tmp_path / "cup.zip"), stdout=out)
    assert "created 1, changed 2" in out.getvalue()
    assert Option.objects.get(component__key="figure", key="figure-1").label == "Figure 1"
    assert Trophy.objects.get(slug="cup").width == 40
    assert archive.import_catalog(tmp_path / "cup.zip", dry_run=True).changed == []


def test_import_keeps_what_the_archive_does_not_name(db, tmp_path):
    small_trophy()
    archive.export_catalog(tmp_path / "cup.zip", ["cup"])
    extra = Component.objects.create(key="trim", name="Trim")
    mine = Option(component=Component.objects.get(key="base"), key="mine", label="Mine")
    from trophies.services.layers import replace_layer
    replace_layer(mine, png_bytes((1, 2, 3, 255)))
    archive.import_catalog(tmp_path / "cup.zip")
    assert Component.objects.filter(pk=extra.pk).exists() and Option.objects.filter(pk=mine.pk).exists()


def test_a_changed_layer_goes_through_replace_layer_and_keeps_the_old_file(db, tmp_path):
    small_trophy()
    archive.export_catalog(tmp_path / "cup.zip")
    option = Option.objects.get(component__key="base", key="base-0")
    from trophies.services.layers import replace_layer
    replace_layer(option, png_bytes((9, 9, 9, 255)))
    changed_name = option.layer.name
    archive.import_catalog(tmp_path / "cup.zip")
    option.refresh_from_db()
    assert option.layer.name != changed_name
    assert (Path(settings.MEDIA_ROOT) / changed_name).exists()  # left for the prune
    assert option.layer_digest == json_option(tmp_path / "cup.zip", "base", "base-0")["digest"]


def json_option(path, component, key):
    with zipfile.ZipFile(path) as zipped:
        manifest = json.loads(zipped.read("manifest.json"))
    return next(o for c in manifest["components"] if c["key"] == component for o in c["options"] if o["key"] == key)


def test_import_is_all_or_nothing_and_removes_the_files_it_wrote(db, tmp_path, monkeypatch):
    small_trophy()
    archive.export_catalog(tmp_path / "cup.zip")
    wipe_catalog()

    def fail(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(catalog, "save_trophy", fail)  # after every layer was written
    with pytest.raises(RuntimeError):
        archive.import_catalog(tmp_path / "cup.zip")
    assert not Component.objects.exists() and not Option.objects.exists()
    assert media_files() == []


def test_import_refuses_to_change_a_trophy_while_it_builds(db, tmp_path):
    trophy = small_trophy()
    archive.export_catalog(tmp_path / "cup.zip")
    trophy.height = 77
    trophy.save()
    Build.objects.create(trophy=trophy, total=24, chunk_size=1000, state=Build.RUNNING,
                         plan=plans.capture(trophy).to_json())
    state, files = catalog_state(), media_files()
    with pytest.raises(CommandError, match="cannot change until it ends.*Nothing was imported"):
        call_command("k2", "import", str(tmp_path / "cup.zip"))
    assert catalog_state() == state and media_files() == files


# -- bad archives ------------------------------------------------------------------------


def good_archive(tmp_path):
    small_trophy()
    archive.export_catalog(tmp_path / "good.zip")
    with zipfile.ZipFile(tmp_path / "good.zip") as zipped:
        return {name: zipped.read(name) for name in zipped.namelist()}


def zip_of(members, path, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


def with_manifest(members, change):
    manifest = json.loads(members["manifest.json"])
    change(manifest)
    return {**members, "manifest.json": json.dumps(manifest)}


def first_option(manifest):
    return manifest["components"][0]["options"][0]


def big_png():
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buffer, "PNG")  # a small file of 25 million pixels
    return buffer.getvalue()


def with_slots(tiers, per_tier):
    """The first trophy with ``tiers`` tiers of ``per_tier`` copies of its first slot."""
    def change(manifest):
        trophy = manifest["trophies"][0]
        first = trophy["tiers"][0]["slots"][0]
        trophy["tiers"] = [{"name": f"T{t}", "slots": [{**first, "key": f"t{t}s{s}"} for s in range(per_tier)]}
                           for t in range(tiers)]
    return change


def set_first(path, value):
    """Set a text of the manifest: path is a list of keys and indexes."""
    def change(manifest):
        node = manifest
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
    return change


BAD = {
    "too many tiers": (lambda m: with_manifest(m, with_slots(21, 1)),
                       "trophy cup is over a limit (The trophy has 21 tiers; the limit is 20)"),
    "too many slots in a tier": (lambda m: with_manifest(m, with_slots(1, 21)),
                                 "Tier 1 has 21 slots; the limit is 20 per tier"),
    "too many slots": (lambda m: with_manifest(m, with_slots(3, 14)),
                       "The trophy has 42 slots; the limit is 40 in all"),
    "NUL in a trophy name": (
        lambda m: with_manifest(m, set_first(["trophies", 0, "name"], "Cup\x00")),
        "the name of trophy cup is refused: control characters are not allowed (U+0000 at position 4)"),
    "tab in a tier name": (lambda m: with_manifest(m, set_first(["trophies", 0, "tiers", 0, "name"], "a\tb")),
                           "a tier name of cup is refused: control characters are not allowed (U+0009"),
    "NUL in a component name": (lambda m: with_manifest(m, set_first(["components", 0, "name"], "\x00")),
                                "control characters are not allowed (U+0000"),
    "NUL in an option label": (
        lambda m: with_manifest(m, set_first(["components", 0, "options", 0, "label"], "a\x00")),
        "control characters are not allowed (U+0000"),
    "newline after a slug": (lambda m: with_manifest(m, set_first(["trophies", 0, "slug"], "cup\n")), "not a key"),
    "NUL in a slot key": (
        lambda m: with_manifest(m, set_first(["trophies", 0, "tiers", 0, "slots", 0, "key"], "a\x00")), "not a key"),
    "not a zip": (None, "not a zip file"),
    "no manifest": (lambda m: {k: v for k, v in m.items() if k != "manifest.json"}, "has no manifest.json"),
    "manifest not json": (lambda m: {**m, "manifest.json": b"{nope"}, "not valid JSON"),
    "unknown version": (lambda m: with_manifest(m, lambda j: j.update(version=99)), "format version is 99"),
    "not a k2 manifest": (lambda m: with_manifest(m, lambda j: j.update(format="other")), "not a K2 catalog"),
    "missing key": (lambda m: with_manifest(m, lambda j: j.pop("trophies")), "malformed"),
    "bad slug": (lambda m: with_manifest(m, lambda j: j["trophies"][0].update(slug="a b")), "not a key"),
    "unknown option": (lambda m: with_manifest(m, lambda j: j["trophies"][0]["tiers"][0]["slots"][0]
                                               ["options"].append("ghost")), "not in the archive"),
    "canvas too big": (lambda m: with_manifest(m, lambda j: j["trophies"][0].update(width=10**6)), "width"),
    "missing file": (lambda m: {k: v for k, v in m.items() if k != "layers/base/base-0.png"},
                     "incomplete: the manifest names layers/base/base-0.png"),
    "extra file": (lambda m: {**m, "notes.txt": b"hi"}, "does not name: notes.txt"),
    "dot-dot path": (lambda m: {**m, "../x": b"hi"}, "unsafe name: '../x'"),
    "absolute path": (lambda m: {**m, "/etc/x": b"hi"}, "unsafe name: '/etc/x'"),
    "layer not png": (lambda m: {**m, "layers/base/base-0.png": b"GIF89a" + b"\0" * 30}, "base/base-0 is not a PNG"),
    "layer broken png": (lambda m: {**m, "layers/base/base-0.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 30},
                         "base/base-0 is refused: the file is not a picture"),
    "layer too many pixels": (lambda m: {**m, "layers/base/base-0.png": big_png()}, "5000x5000 pixels; the limit is 16,000,000"),
    "digest mismatch": (lambda m: {**m, "layers/base/base-0.png": png_bytes((1, 1, 1, 255))}, "does not match its digest"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_archive_is_refused_with_one_message_and_nothing_changes(db, tmp_path, case):
    members = good_archive(tmp_path)
    wipe_catalog()
    small_trophy("other")  # a site with a catalog of its own
    state, files = catalog_state(), media_files()
    make, message = BAD[case]
    path = tmp_path / "bad.zip"
    if make is None:
        path.write_bytes(b"this is a text file")
    else:
        zip_of(make(members), path)
    with pytest.raises(CommandError) as refused:
        call_command("k2", "import", str(path))
    assert message in str(refused.value)
    assert "\n" not in str(refused.value) and "Traceback" not in str(refused.value)
    assert catalog_state() == state and media_files() == files


def test_a_zip_bomb_is_refused_before_it_is_unpacked(db, tmp_path):
    members = good_archive(tmp_path)
    huge = b"\0" * (8 * 1024 * 1024)  # compresses about 1000:1
    path = zip_of({**members, "layers/base/base-0.png": huge}, tmp_path / "bomb.zip")
    with zipfile.ZipFile(path) as zipped:
        info = zipped.getinfo("layers/base/base-0.png")
        assert info.file_size > MAX_RATIO * info.compress_size
    with pytest.raises(ArchiveRejected, match="zip bomb"):
        archive.import_catalog(path, dry_run=True)


def test_a_layer_over_the_byte_limit_is_refused(db, tmp_path, monkeypatch):
    members = good_archive(tmp_path)
    from trophies.services import layers
    monkeypatch.setattr(layers, "MAX_LAYER_BYTES", 50)
    path = zip_of(members, tmp_path / "big.zip", compression=zipfile.ZIP_STORED)
    with pytest.raises(ArchiveRejected, match="the limit is 50"):
        archive.import_catalog(path, dry_run=True)


def test_export_says_which_layer_file_is_missing(db, tmp_path):
    small_trophy()
    option = Option.objects.get(component__key="plate", key="plate-1")
    (Path(settings.MEDIA_ROOT) / option.layer.name).unlink()
    with pytest.raises(CommandError, match="layer file of plate/plate-1 is missing"):
        call_command("k2", "export", "-o", str(tmp_path / "x.zip"))
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]  # no half archive left


def test_an_import_publishes_nothing_by_itself(db, tmp_path):
    """New trophies come in as drafts; a changed one keeps its flag either way."""
    cup = small_trophy("cup")
    cup.published = True
    cup.save()
    archive.export_catalog(tmp_path / "cup.zip")
    Trophy.objects.create(slug="draft", name="Draft")
    archive.export_catalog(tmp_path / "draft.zip", ["draft"])
    # Changed here, so that importing the archives changes both trophies back.
    Trophy.objects.filter(slug="cup").update(width=99)
    Trophy.objects.filter(slug="draft").update(name="Renamed")

    archive.import_catalog(tmp_path / "cup.zip")
    archive.import_catalog(tmp_path / "draft.zip")
    assert Trophy.objects.filter(slug="cup", width=40, published=True).exists()
    assert Trophy.objects.filter(slug="draft", name="Draft", published=False).exists()

    wipe_catalog()
    report = archive.import_catalog(tmp_path / "cup.zip")
    assert "trophy cup (a draft: publish it in the studio)" in report.created
    assert Trophy.objects.get(slug="cup").published is False
