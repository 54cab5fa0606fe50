"""What a trophy renders, read once: its canvas, and its slots in compositing
order, each with its offset and its allowed options' layer files and
fingerprints.

A build captures its plan at start and stores it on the build row; every
chunk renders that plan, so an edit made meanwhile (studio, admin, import,
shell) takes effect with the next build only. Pages and the storefront read
a trophy's current plan from a per-process cache that is valid for one
catalog revision (:mod:`trophies.services.revision`), so a picture request
costs no query while nothing in the catalog changes.
"""
from dataclasses import dataclass
from functools import cached_property

from trophies import combinations
from trophies.models import Slot, Trophy
from trophies.services import renders, revision


class UnknownChoice(KeyError):
    """A choice naming an unknown slot or option, or missing a slot."""

    def __str__(self):
        return self.args[0]


@dataclass(frozen=True)
class OptionPlan:
    key: str
    label: str
    digest: str   # sha256 of the layer's pixels: part of every image name
    layer: str    # storage name of the layer file (under MEDIA_ROOT)


@dataclass(frozen=True)
class SlotPlan:
    key: str
    component: str       # component key (its asset lock)
    component_name: str
    x: int
    y: int
    options: tuple       # OptionPlan, in order


@dataclass(frozen=True)
class Plan:
    trophy_id: int
    slug: str
    name: str
    width: int
    height: int
    format: str
    slots: tuple         # SlotPlan, in compositing order

    @cached_property
    def radices(self):
        return [len(slot.options) for slot in self.slots]

    @cached_property
    def total(self):
        return combinations.count(self.radices)

    @cached_property
    def components(self):
        """Component keys, sorted: every reader takes their locks in this order."""
        return sorted({slot.component for slot in self.slots})

    @cached_property
    def name_tokens(self):
        """The tokens image names are made of (computed once per plan)."""
        return renders.name_tokens(self)

    @cached_property
    def _positions(self):
        return [{option.key: digit for digit, option in enumerate(slot.options)} for slot in self.slots]

    def same_pictures(self, other):
        """True when both plans make the same pictures under the same names
        (the trophy's display name may differ)."""
        return (self.slug, self.width, self.height, self.format, self.slots) == \
            (other.slug, other.width, other.height, other.format, other.slots)

    def describe(self):
        """'3 x 30 x 5 = 450 combinations' for people."""
        return combinations.describe(self.radices)

    def digits_for(self, chosen):
        """Per-slot option positions of ``{slot_key: option_key}``."""
        known = {slot.key for slot in self.slots}
        unknown = sorted(set(chosen) - known)
        if unknown:
            raise UnknownChoice(f"unknown slot {unknown[0]!r}")
        digits = []
        for slot, positions in zip(self.slots, self._positions):
            if slot.key not in chosen:
                raise UnknownChoice(f"no option chosen for slot {slot.key!r}")
            if chosen[slot.key] not in positions:
                raise UnknownChoice(f"unknown option {chosen[slot.key]!r} for slot {slot.key!r}")
            digits.append(positions[chosen[slot.key]])
        return digits

    def index_for(self, chosen):
        return combinations.index_of(self.digits_for(chosen), self.radices)

    def digits_of(self, index):
        return combinations.digits_of(index, self.radices)

    def choices(self, digits):
        """[(SlotPlan, OptionPlan)] of these digits."""
        return [(slot, slot.options[digit]) for slot, digit in zip(self.slots, digits)]

    def to_json(self):
        return {
            "trophy_id": self.trophy_id, "slug": self.slug, "name": self.name,
            "width": self.width, "height": self.height, "format": self.format,
            "slots": [{"key": s.key, "component": s.component, "component_name": s.component_name,
                       "x": s.x, "y": s.y,
                       "options": [[o.key, o.label, o.digest, o.layer] for o in s.options]}
                      for s in self.slots],
        }

    @classmethod
    def from_json(cls, data):
        slots = tuple(
            SlotPlan(s["key"], s["component"], s["component_name"], s["x"], s["y"],
                     tuple(OptionPlan(*option) for option in s["options"]))
            for s in data["slots"])
        return cls(data["trophy_id"], data["slug"], data["name"], data["width"], data["height"],
                   data["format"], slots)


def capture(trophy):
    """The trophy's plan as the database has it now (two queries)."""
    slots = (Slot.objects.filter(tier__trophy=trophy).select_related("component")
             .prefetch_related("options").order_by("tier__position", "tier_id", "position", "id"))
    return Plan(
        trophy_id=trophy.pk, slug=trophy.slug, name=trophy.name, width=trophy.width, height=trophy.height,
        format=trophy.format,
        slots=tuple(
            SlotPlan(slot.key, slot.component.key, slot.component.name, slot.x, slot.y, tuple(
                OptionPlan(option.key, option.label, option.layer_digest, option.layer.name)
                for option in slot.allowed_options()))
            for slot in slots),
    )


_cached = {}  # slug -> (catalog revision, Plan)
MAX_CACHED = 1000


def current(slug, seen=None):
    """The current plan of the trophy ``slug``, or None when there is none.
    ``seen``: the catalog revision, when the caller has read it already."""
    # The revision is read before the catalog: a change made in between can
    # only cause a later miss, never a stale hit.
    seen = revision.current() if seen is None else seen
    hit = _cached.get(slug)
    if hit is not None and seen is not None and hit[0] == seen:
        return hit[1]
    trophy = Trophy.objects.filter(slug=slug).first()
    if trophy is None:
        return None
    plan = capture(trophy)
    if seen is not None:
        if len(_cached) >= MAX_CACHED:
            _cached.clear()
        _cached[slug] = (seen, plan)
    return plan


def current_of(trophies):
    """{trophy pk: current plan} for the trophies of a list page."""
    seen = revision.current()
    return {trophy.pk: current(trophy.slug, seen) for trophy in trophies}
