"""The demo catalog: parts drawn by demo_layers and two trophies.

`classic` has slots of 3, 30, 5, 15 and 19 options (128,250 combinations,
400x500 px); `starter` has 12. Both are created published. The demo is created once: a later run (every
`make run` starts with one) creates what is missing and changes nothing that
exists, so pictures staff replaced stay theirs. ``reset=True`` is the one
way to redraw the demo options' layers, and the result lists each one it
replaced.
"""
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from trophies.models import Component, Option, Slot, Tier, Trophy
from trophies.services import demo_layers
from trophies.services.layers import decode_layer, replace_layer

SIZE = (400, 500)
COMPONENTS = [("base", "Base", 3), ("figure", "Figure", 30), ("color", "Color", 5),
              ("plate", "Plate", 15), ("engraving", "Engraving", 19)]
# (trophy slug, name, tiers: [(tier name, [(component key, option count)])])
TROPHIES = [
    ("classic", "Classic", [("Base", [("base", 3)]), ("Figure", [("figure", 30), ("color", 5)]),
                            ("Plate", [("plate", 15), ("engraving", 19)])]),
    ("starter", "Starter", [("Base", [("base", 2)]), ("Top", [("figure", 3), ("plate", 2)])]),
]
LAYER_FILE = re.compile(r"^(?P<slot>[a-z][a-z0-9-]*)_(?P<number>\d+)\.png$")
OWNER = "k2 demo"


class DemoError(ValueError):
    pass


@dataclass
class DemoResult:
    created: list = field(default_factory=list)   # "figure 07", "trophy classic"...
    replaced: list = field(default_factory=list)  # options whose layer --reset redrew
    kept: int = 0                                 # existing demo options left as they are
    trophies: list = field(default_factory=list)


def option_key(number):
    return f"{number:02d}"


def ensure_options(component, count, picture, reset, result):
    """Options 00..count-1 of a component: created with ``picture(number)``
    when missing; an existing one is redrawn only when ``reset``."""
    existing = {option.key: option for option in component.options.all()}
    for number in range(count):
        option = existing.get(option_key(number))
        if option is None:
            option = Option(component=component, key=option_key(number),
                            label=f"{component.name} {number + 1}", position=number)
            replace_layer(option, picture(number), owner=OWNER)
            result.created.append(f"{component.key} {option.key}")
        elif reset:
            if replace_layer(option, picture(number), owner=OWNER):
                result.replaced.append(f"{component.key} {option.key}")
        else:
            result.kept += 1


def ensure_trophy(slug, name, tiers, result):
    trophy, created = Trophy.objects.get_or_create(
        # Built for the demo, so published at once; an existing trophy keeps
        # whatever staff chose (a demo trophy they unpublished stays a draft).
        slug=slug, defaults={"name": name, "width": SIZE[0], "height": SIZE[1], "format": "JPEG", "published": True}
    )
    if not created:
        return trophy, False
    for tier_position, (tier_name, slots) in enumerate(tiers):
        tier = Tier.objects.create(trophy=trophy, name=tier_name, position=tier_position)
        for slot_position, (key, count) in enumerate(slots):
            component = Component.objects.get(key=key)
            slot = Slot.objects.create(tier=tier, key=key, component=component, position=slot_position)
            slot.options.set(component.options.order_by("position")[:count])
    result.created.append(f"trophy {slug}")
    return trophy, True


@transaction.atomic
def create_demo_catalog(layers_dir=None, reset=False):
    """Create what is missing of the demo parts and both trophies.

    With ``layers_dir``, the parts found there (SLOT_NN.png) take their
    layers from the folder instead of being drawn, and a classic created (or
    reset) now allows exactly the folder's options."""
    folder = read_layer_folder(layers_dir) if layers_dir else {}
    unknown = set(folder) - {key for key, _, _ in COMPONENTS}
    if unknown:
        raise DemoError(
            f"--layers: {layers_dir} has slots {', '.join(sorted(folder))}; "
            f"classic has {', '.join(key for key, _, _ in COMPONENTS)}"
        )
    result = DemoResult()
    for key, name, count in COMPONENTS:
        component, created = Component.objects.get_or_create(key=key, defaults={"name": name})
        if created:
            result.created.append(f"component {key}")
        if key in folder:
            images = folder[key]
            ensure_options(component, len(images), images.__getitem__, reset, result)
        else:
            ensure_options(component, count, lambda number, key=key: demo_layers.DRAWERS[key](number, SIZE),
                           reset, result)
    for slug, name, tiers in TROPHIES:
        trophy, created = ensure_trophy(slug, name, tiers, result)
        if folder and slug == "classic" and (created or reset) and use_folder_options(trophy, folder) and reset:
            result.replaced.append("trophy classic: the folder's options and canvas size")
        result.trophies.append(trophy)
    return result


def use_folder_options(trophy, folder):
    """Let classic's slots allow exactly the folder's options, at the
    folder's canvas size; True when that changed anything."""
    changed = False
    for slot in trophy.ordered_slots():
        if slot.key in folder:
            wanted = list(slot.component.options.filter(key__in=[option_key(n) for n in range(len(folder[slot.key]))]))
            if {option.pk for option in wanted} != {option.pk for option in slot.allowed_options()}:
                slot.options.set(wanted)
                changed = True
    width, height = next(iter(folder.values()))[0].size
    if (trophy.width, trophy.height) != (width, height):
        trophy.width, trophy.height = width, height
        trophy.save()
        changed = True
    return changed


def read_layer_folder(folder):
    """{slot key: [RGBA image, ...]} from SLOT_NN.png files, numbered from 00."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DemoError(f"--layers: {folder} is not a folder")
    found = defaultdict(dict)
    for path in sorted(folder.iterdir()):
        match = LAYER_FILE.match(path.name)
        if match:
            found[match["slot"]][int(match["number"])] = path
    if not found:
        raise DemoError(f"--layers: no SLOT_NN.png files in {folder}")
    layers = {}
    for slot, numbered in found.items():
        if sorted(numbered) != list(range(len(numbered))):
            raise DemoError(f"--layers: {slot}_NN.png must be numbered 00..{len(numbered) - 1:02d} without gaps")
        layers[slot] = [decode_layer(numbered[n].read_bytes()) for n in range(len(numbered))]
    return layers
