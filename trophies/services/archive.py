"""Catalog archives: a shop's parts, layers and trophies as one zip, and
back (`k2 export`, `k2 import`, the studio's Export and Import).

An archive holds ``manifest.json`` and one PNG per option. The manifest::

    {"format": "k2-catalog", "version": 1,
     "components": [{"key": "figure", "name": "Figure",
                     "options": [{"key": "07", "label": "Figure 8", "position": 7,
                                  "layer": "layers/figure/07.png",     # its path in the zip
                                  "digest": "<sha256 of the RGBA pixels, 64 hex>"}]}],
     "trophies": [{"slug": "classic", "name": "Classic", "width": 400, "height": 500, "format": "JPEG",
                   "tiers": [{"name": "Base",
                              "slots": [{"key": "base", "component": "base", "x": 0, "y": 0,
                                         "options": ["00", "01"]}]}]}]}   # allowed options, by key

Tiers and slots are in compositing order. Every layer the manifest names is
in the zip and nothing else is (see :mod:`archive_reader` for every check).

Import matches by key: components by key, options by component and key,
trophies by slug. What the archive has is created or changed; what the site
has and the archive does not stays as it is (an import never deletes staff
work). It is all or nothing: one transaction; layers go through
:func:`layers.replace_layer`, and the files it wrote are removed again when
the transaction rolls back.

An import publishes nothing by itself: the manifest has no published flag,
a trophy it creates is a draft (staff publish it in the studio) and a
trophy it changes keeps its flag, published or not.
"""
import io
import json
import zipfile
from dataclasses import dataclass, field

from django.db import transaction

from trophies.models import Component, Option, Trophy
from trophies.services import catalog, layers
from trophies.services.archive_reader import (
    FORMAT_NAME,
    MANIFEST,
    VERSION,
    ArchiveRejected,
    layer_path,
    read_archive,
)

__all__ = ["ArchiveRejected", "export_catalog", "import_catalog", "ImportReport"]
OWNER = "catalog import"


# -- export --------------------------------------------------------------------------


def trophy_entry(trophy):
    tiers = []
    for tier in trophy.tiers.order_by("position", "id").prefetch_related("slots__options", "slots__component"):
        slots = sorted(tier.slots.all(), key=lambda slot: (slot.position, slot.id))
        tiers.append({"name": tier.name, "slots": [
            {"key": slot.key, "component": slot.component.key, "x": slot.x, "y": slot.y,
             "options": [option.key for option in slot.allowed_options()]} for slot in slots]})
    return {"slug": trophy.slug, "name": trophy.name, "width": trophy.width, "height": trophy.height,
            "format": trophy.format, "tiers": tiers}


def option_entry(option):
    return {"key": option.key, "label": option.label, "position": option.position,
            "layer": layer_path(option.component.key, option.key), "digest": option.layer_digest}


def select(slugs=None, component_keys=None):
    """(trophies, components) an export holds: everything by default; the
    named trophies and the components they use; or just named components."""
    if not slugs and not component_keys:
        return list(Trophy.objects.order_by("slug")), list(Component.objects.order_by("key"))
    trophies = list(Trophy.objects.filter(slug__in=slugs or []).order_by("slug"))
    unknown = sorted(set(slugs or []) - {t.slug for t in trophies})
    if unknown:
        raise ArchiveRejected(f"There is no trophy {unknown[0]!r}.")
    keys = set(component_keys or [])
    keys |= set(Component.objects.filter(slots__tier__trophy__in=trophies).values_list("key", flat=True))
    components = list(Component.objects.filter(key__in=keys).order_by("key"))
    unknown = sorted(set(component_keys or []) - {c.key for c in components})
    if unknown:
        raise ArchiveRejected(f"There is no part {unknown[0]!r}.")
    return trophies, components


def export_catalog(target, slugs=None, component_keys=None):
    """Write an archive to ``target`` (a path or a binary file). Returns
    (trophy count, option count)."""
    trophies, components = select(slugs, component_keys)
    manifest = {"format": FORMAT_NAME, "version": VERSION, "components": [], "trophies": []}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        option_count = 0
        for component in components:
            options = list(component.options.select_related("component").order_by("position", "id"))
            manifest["components"].append({"key": component.key, "name": component.name,
                                           "options": [option_entry(o) for o in options]})
            for option in options:
                try:
                    with option.layer.open("rb") as handle:
                        data = handle.read()
                except (FileNotFoundError, ValueError):
                    raise ArchiveRejected(f"The layer file of {component.key}/{option.key} is missing "
                                          f"({option.layer.name}): upload its picture again.") from None
                # PNGs are compressed already: storing them costs nothing and unpacks at once.
                archive.writestr(layer_path(component.key, option.key), data, compress_type=zipfile.ZIP_STORED)
            option_count += len(options)
        manifest["trophies"] = [trophy_entry(trophy) for trophy in trophies]
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
    return len(trophies), option_count


def export_bytes(slugs=None, component_keys=None):
    buffer = io.BytesIO()
    export_catalog(buffer, slugs, component_keys)
    return buffer.getvalue()


# -- import --------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import creates, changes and leaves as it is: lines for people."""

    created: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    dry_run: bool = True

    def lines(self):
        verb = ("would create", "would change") if self.dry_run else ("created", "changed")
        out = [f"{verb[0]} {len(self.created)}, {verb[1]} {len(self.changed)}, "
               f"unchanged {len(self.unchanged)}"]
        out += [f"  {verb[0]}: {line}" for line in self.created]
        out += [f"  {verb[1]}: {line}" for line in self.changed]
        out += [f"  unchanged: {line}" for line in self.unchanged]
        return out


def compare(manifest):
    """The ImportReport of ``manifest`` against the catalog now (reads only)."""
    report = ImportReport()
    components = {c.key: c for c in Component.objects.all()}
    options = {(o.component.key, o.key): o for o in Option.objects.select_related("component")}
    for entry in manifest["components"]:
        current = components.get(entry["key"])
        if current is None:
            report.created.append(f"part {entry['key']} with {len(entry['options'])} options")
        elif current.name != entry["name"]:
            report.changed.append(f"part {entry['key']}: name")
        else:
            report.unchanged.append(f"part {entry['key']}")
        for option in entry["options"]:
            label = f"option {entry['key']}/{option['key']}"
            existing = options.get((entry["key"], option["key"]))
            if existing is None:
                if current is not None:
                    report.created.append(label)
                continue
            what = [name for name, now, new in (("label", existing.label, option["label"]),
                                                ("position", existing.position, option["position"]),
                                                ("layer", existing.layer_digest, option["digest"])) if now != new]
            (report.changed if what else report.unchanged).append(label + (f": {', '.join(what)}" if what else ""))
    trophies = {t.slug: t for t in Trophy.objects.filter(slug__in=[t["slug"] for t in manifest["trophies"]])}
    for entry in manifest["trophies"]:
        current = trophies.get(entry["slug"])
        if current is None:
            report.created.append(f"trophy {entry['slug']} (a draft: publish it in the studio)")
            continue
        now = trophy_entry(current)
        what = [name for name in ("name", "width", "height", "format", "tiers") if now[name] != entry[name]]
        (report.changed if what else report.unchanged).append(
            f"trophy {entry['slug']}" + (f": {', '.join('tiers and slots' if w == 'tiers' else w for w in what)}"
                                         if what else ""))
    return report


def import_catalog(source, dry_run=False):
    """Read an archive (path or binary file) into the catalog. Returns its
    ImportReport. Raises ArchiveRejected, catalog.TrophyBusy, LayerRejected
    or locks.LockTimeout, and then nothing in the catalog has changed."""
    manifest, pictures = read_archive(source)
    report = compare(manifest)
    if dry_run:
        return report
    written = []
    try:
        with transaction.atomic():
            apply(manifest, pictures, written)
    except BaseException:
        discard_files(written)
        raise
    report.dry_run = False
    return report


def apply(manifest, pictures, written):
    """Write the manifest's catalog (inside the caller's transaction);
    ``written`` collects the storage names of new layer files."""
    option_ids = {}
    for entry in manifest["components"]:
        component, _ = Component.objects.get_or_create(key=entry["key"], defaults={"name": entry["name"]})
        if component.name != entry["name"]:
            component.name = entry["name"]
            component.save()
        existing = {o.key: o for o in component.options.all()}
        for item in entry["options"]:
            option = existing.get(item["key"]) or Option(component=component, key=item["key"])
            option_ids[(entry["key"], item["key"])] = option.pk
            if option.pk and (option.label, option.position, option.layer_digest) == \
                    (item["label"], item["position"], item["digest"]):
                continue  # unchanged: not even saved
            option.component = component
            option.label, option.position = item["label"], item["position"]
            if layers.replace_layer(option, pictures[item["layer"]], owner=OWNER):
                written.append(option.layer.name)
            option_ids[(entry["key"], item["key"])] = option.pk
    for entry in manifest["trophies"]:
        trophy = Trophy.objects.filter(slug=entry["slug"]).first()
        if trophy is not None and trophy_entry(trophy) == entry:
            continue
        appstruct = {name: entry[name] for name in ("name", "slug", "width", "height", "format")}
        appstruct["tiers"] = [{"name": tier["name"], "slots": [
            {"component": slot["component"], "key": slot["key"], "x": slot["x"], "y": slot["y"],
             "options": [str(option_ids[(slot["component"], key)]) for key in slot["options"]]}
            for slot in tier["slots"]]} for tier in entry["tiers"]]
        catalog.save_trophy(appstruct, trophy)  # raises TrophyBusy when a running build's pictures would change


def discard_files(names):
    """Remove the layer files of an import that rolled back: no row names them."""
    storage = Option._meta.get_field("layer").storage
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            pass
