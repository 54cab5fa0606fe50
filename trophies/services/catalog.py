"""Catalog models <-> form appstructs: trophies with their tiers and slots,
components, options and their layers.

A trophy's tiers and slots are replaced as a whole in one transaction (they
have no identity worth keeping: builds fingerprint slots by their key,
options and offset). Layers are replaced by :func:`layers.replace_layer`.
"""
from django.db import transaction
from django.db.models import Count

from trophies.models import Build, Component, Option, Slot, Tier, Trophy
from trophies.services import plans
from trophies.services.layers import replace_layer


# -- trophies ------------------------------------------------------------------


def trophy_appstruct(trophy):
    """The trophy as the trophy form's appstruct (fills the edit form)."""
    tiers = []
    for tier in trophy.tiers.order_by("position", "id").prefetch_related("slots__options", "slots__component"):
        slots = sorted(tier.slots.all(), key=lambda slot: (slot.position, slot.id))
        tiers.append(
            {
                "name": tier.name,
                "slots": [
                    {
                        "component": slot.component.key,
                        "key": slot.key,
                        "options": [str(option.pk) for option in slot.allowed_options()],
                        "x": slot.x,
                        "y": slot.y,
                    }
                    for slot in slots
                ],
            }
        )
    return {
        "name": trophy.name,
        "slug": trophy.slug,
        "width": trophy.width,
        "height": trophy.height,
        "format": trophy.format,
        "tiers": tiers,
    }


class TrophyBusy(Exception):
    """An edit that would change what a running build renders."""

    def __init__(self, build):
        super().__init__(f"Build {build.pk} of {build.trophy.slug} is {build.state}: the trophy's slots, options "
                         "and canvas cannot change until it ends (or is cancelled). Nothing was saved.")
        self.build = build


@transaction.atomic
def save_trophy(appstruct, trophy=None):
    """Create or update a trophy from a validated appstruct; its tiers and
    slots are replaced by the ones in ``appstruct`` (in their order).
    Raises TrophyBusy (and saves nothing) when that would change the
    pictures of a build that is running."""
    running = trophy.builds.filter(state__in=Build.ACTIVE).first() if trophy and trophy.pk else None
    before = plans.capture(trophy) if running else None
    trophy = _save_trophy(appstruct, trophy)
    if running and not plans.capture(trophy).same_pictures(before):
        raise TrophyBusy(running)  # leaving the atomic block rolls the edit back
    return trophy


def _save_trophy(appstruct, trophy):
    trophy = trophy or Trophy()
    for name in ("name", "slug", "width", "height", "format"):
        setattr(trophy, name, appstruct[name])
    trophy.save()
    if trophy.pk:
        Tier.objects.filter(trophy=trophy).delete()
    components = {c.key: c for c in Component.objects.all()}
    option_ids = {int(option_id) for tier in appstruct["tiers"] for slot in tier["slots"]
                  for option_id in slot["options"]}
    options = Option.objects.in_bulk(option_ids)
    for tier_position, tier_data in enumerate(appstruct["tiers"]):
        tier = Tier.objects.create(trophy=trophy, name=tier_data.get("name", ""), position=tier_position)
        for slot_position, slot_data in enumerate(tier_data["slots"]):
            component = components[slot_data["component"]]
            slot = Slot.objects.create(
                tier=tier, key=slot_data["key"], component=component, position=slot_position,
                x=slot_data.get("x", 0), y=slot_data.get("y", 0),
            )
            chosen = [options[int(option_id)] for option_id in slot_data["options"]]
            if any(option.component_id != component.pk for option in chosen):
                raise ValueError(f"slot {slot.key}: an option is not of the component {component.key}")
            slot.options.set(chosen)
    return trophy


def trophy_rows():
    """Trophies for the studio list: trophy, plan, count formula, tier count."""
    trophies = list(Trophy.objects.order_by("name", "slug").annotate(tier_count=Count("tiers")))
    current = plans.current_of(trophies)
    return [{"trophy": trophy, "plan": current[trophy.pk], "formula": current[trophy.pk].describe(),
             "tiers": trophy.tier_count} for trophy in trophies]


# -- parts library ---------------------------------------------------------------


def component_appstruct(component):
    return {"name": component.name, "key": component.key}


def save_component(appstruct, component=None):
    component = component or Component()
    component.name = appstruct["name"]
    component.key = appstruct["key"]
    component.save()
    return component


def option_appstruct(option):
    return {"label": option.label, "key": option.key, "position": option.position}


def save_option(component, appstruct, layer_data=None, option=None, owner=""):
    """Create or update an option. With ``layer_data`` (bytes of an uploaded
    picture, already validated) its layer is replaced through
    :func:`layers.replace_layer`, which raises ``locks.LockTimeout`` when the
    component's assets stay busy (nothing is changed then)."""
    option = option or Option(component=component)
    option.label = appstruct["label"]
    option.key = appstruct["key"]
    option.position = appstruct.get("position") or 0
    if layer_data is None:
        if option.pk is None:
            raise ValueError("a new option needs a layer image")
        option.save()  # the layer file keeps its name; its pixels did not change
        return option
    replace_layer(option, layer_data, owner=owner)
    return option
