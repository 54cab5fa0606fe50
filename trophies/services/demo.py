"""The demo catalog: parts drawn by demo_layers and two trophies.

`classic` has slots of 3, 30, 5, 15 and 19 options (128,250 combinations,
400x500 px); `starter` has 12. Running it again changes nothing: options are
matched by key and a layer is only rewritten when its pixels differ.
"""
import re
from collections import defaultdict
from pathlib import Path

from django.db import transaction

from trophies.models import Component, Option, Slot, Tier, Trophy
from trophies.services import demo_layers
from trophies.services.layers import decode_layer, pixel_digest, set_layer, png_bytes

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


class DemoError(ValueError):
    pass


def option_key(number):
    return f"{number:02d}"


def put_layer(option, image):
    """Give an option this layer unless it already has exactly these pixels."""
    digest = pixel_digest(image)
    if option.pk and option.layer and option.layer_digest == digest:
        return False
    set_layer(option, png_bytes(image))
    return True


def ensure_options(component, images):
    """Options 00..NN of a component with these layer images; returns how
    many were created or changed."""
    changed = 0
    for number, image in enumerate(images):
        option = Option.objects.filter(component=component, key=option_key(number)).first()
        if option is None:
            option = Option(component=component, key=option_key(number),
                            label=f"{component.name} {number + 1}", position=number)
        if put_layer(option, image):
            option.save()
            changed += 1
    return changed


def ensure_trophy(slug, name, tiers):
    trophy, created = Trophy.objects.get_or_create(
        slug=slug, defaults={"name": name, "width": SIZE[0], "height": SIZE[1], "format": "JPEG"}
    )
    if not created:
        return trophy
    for tier_position, (tier_name, slots) in enumerate(tiers):
        tier = Tier.objects.create(trophy=trophy, name=tier_name, position=tier_position)
        for slot_position, (key, count) in enumerate(slots):
            component = Component.objects.get(key=key)
            slot = Slot.objects.create(tier=tier, key=key, component=component, position=slot_position)
            slot.options.set(component.options.order_by("position")[:count])
    return trophy


@transaction.atomic
def create_demo_catalog(layers_dir=None):
    """Create the demo parts and both trophies; returns a summary.

    With ``layers_dir``, the parts found there (SLOT_NN.png) take their
    layers from the folder instead of being drawn, and classic's slots
    allow exactly the folder's options."""
    folder = read_layer_folder(layers_dir) if layers_dir else {}
    unknown = set(folder) - {key for key, _, _ in COMPONENTS}
    if unknown:
        raise DemoError(
            f"--layers: {layers_dir} has slots {', '.join(sorted(folder))}; "
            f"classic has {', '.join(key for key, _, _ in COMPONENTS)}"
        )
    changed = 0
    for key, name, count in COMPONENTS:
        component, _ = Component.objects.get_or_create(key=key, defaults={"name": name})
        images = folder.get(key) or [demo_layers.DRAWERS[key](number, SIZE) for number in range(count)]
        changed += ensure_options(component, images)
    trophies = [ensure_trophy(slug, name, tiers) for slug, name, tiers in TROPHIES]
    if folder:
        use_folder_options(trophies[0], folder)
    return {"layers_changed": changed, "trophies": trophies}


def use_folder_options(trophy, folder):
    for slot in trophy.ordered_slots():
        if slot.key in folder:
            count = len(folder[slot.key])
            slot.options.set(slot.component.options.filter(key__in=[option_key(n) for n in range(count)]))
    width, height = next(iter(folder.values()))[0].size
    if (trophy.width, trophy.height) != (width, height):
        trophy.width, trophy.height = width, height
        trophy.save()


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
