"""Colander schemas of the studio forms: a trophy (tiers -> slots), a
component and an option of the parts library.

The schemas are bound with the catalog they validate against::

    TrophySchema().bind(catalog=PartsCatalog.load(), trophy=None_or_instance)

Cross-field rules live in the validators of the mappings: an option must
belong to its slot's component, slot keys are unique in the trophy, and a
trophy may not have more than ``K2_MAX_COMBINATIONS`` combinations.
"""
import re
from dataclasses import dataclass, field

import colander
import deform
from django.conf import settings

from trophies import combinations
from trophies.models import FORMATS, MAX_CANVAS, MIN_CANVAS, Component, Option, Trophy
from trophies.services.layers import LayerRejected, decode_layer
from trophies.texts import control_character_problem
from trophies.trophy_limits import MAX_SLOTS, MAX_SLOTS_PER_TIER, MAX_TIERS, shape_problem

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+\Z")
SLUG_MESSAGE = "Use only letters, digits, hyphens and underscores."


@dataclass
class PartsCatalog:
    """Components and options the trophy form offers, loaded once per request."""

    components: list = field(default_factory=list)  # [Component]
    options: dict = field(default_factory=dict)  # option id (str) -> Option
    by_component: dict = field(default_factory=dict)  # component key -> [Option]

    @classmethod
    def load(cls):
        catalog = cls(components=list(Component.objects.order_by("name", "key")))
        for option in Option.objects.select_related("component").order_by("component__name", "position", "id"):
            catalog.options[str(option.pk)] = option
            catalog.by_component.setdefault(option.component.key, []).append(option)
        return catalog

    def component_keys(self):
        return [component.key for component in self.components]


def plain_text(node, value):
    """Validator of every name, label and key: no control characters."""
    problem = control_character_problem(value)
    if problem:
        raise colander.Invalid(node, problem)


def text_validator(max_length, min_length=0):
    return colander.All(plain_text, colander.Length(min=min_length, max=max_length))


def slug_validator(*then):
    """A well-formed slug, then the checks ``then`` (database lookups), which
    never see a malformed value (PostgreSQL refuses a NUL in a query)."""
    shape = colander.All(plain_text, colander.Length(min=1, max=50), colander.Regex(SLUG_RE, SLUG_MESSAGE))

    def validate(node, value):
        shape(node, value)
        for check in then:
            check(node, value)

    return validate


def slug_node(title, description=None, **kw):
    return colander.SchemaNode(
        colander.String(),
        title=title,
        description=description,
        validator=slug_validator(),
        **kw,
    )


# -- trophy ------------------------------------------------------------------


class OptionPickerWidget(deform.widget.CheckboxChoiceWidget):
    """Checkboxes of the options of the slot's component. Only that
    component's group is rendered (a slot of every group made one big post
    answer 84 MB); the page holds every group once, and the studio script
    puts the chosen component's group in a slot when the choice changes."""

    template = "option_picker"

    def __init__(self, groups=(), **kw):
        super().__init__(**kw)
        self.groups = groups

    def serialize(self, field, cstruct, **kw):
        if cstruct in (colander.null, None):
            cstruct = ()
        chosen = slot_component(field)
        kw["groups"] = [group for group in self.groups if group["key"] == chosen]
        return field.renderer(self.template, **self.get_template_values(field, cstruct, kw))


def slot_component(options_field):
    """The component chosen in the slot an options field belongs to ('' if none)."""
    slot = options_field.parent
    cstruct = slot.cstruct if slot is not None else None
    component = cstruct.get("component") if isinstance(cstruct, dict) else None
    return component if isinstance(component, str) else ""


@colander.deferred
def deferred_component_widget(node, kw):
    catalog = kw["catalog"]
    values = [("", "- choose a component -")] + [(c.key, f"{c.name} ({c.key})") for c in catalog.components]
    return deform.widget.SelectWidget(values=values, css_class="k2-slot-component")


@colander.deferred
def deferred_component_validator(node, kw):
    keys = kw["catalog"].component_keys()
    return colander.OneOf(keys, msg_err="Unknown component ${val}; choose one from the list.")


@colander.deferred
def deferred_option_widget(node, kw):
    return OptionPickerWidget(groups=option_groups(kw["catalog"], kw.get("thumbnail_url")))


def option_groups(catalog, thumbnail_url=None):
    """[{"key", "name", "options": [{"value", "label", "thumb"}]}] per component."""
    thumb = thumbnail_url or (lambda option: "")
    return [
        {
            "key": component.key,
            "name": component.name,
            "options": [
                {"value": str(o.pk), "label": o.label, "thumb": thumb(o)}
                for o in catalog.by_component.get(component.key, [])
            ],
        }
        for component in catalog.components
    ]


class AllowedOptions(colander.SequenceSchema):
    option = colander.SchemaNode(colander.String())


def allowed_options_node():
    return AllowedOptions(
        name="options",
        title="Allowed options",
        widget=deferred_option_widget,
        missing=(),
        preparer=lambda values: values if values is colander.null else list(dict.fromkeys(values)),
    )


class SlotSchema(colander.MappingSchema):
    component = colander.SchemaNode(
        colander.String(),
        title="Component",
        widget=deferred_component_widget,
        validator=deferred_component_validator,
        missing_msg="Choose a component.",
    )
    key = slug_node(
        "Slot key",
        "Unique in the trophy; empty: the component's key.",
        missing="",
    )
    options = allowed_options_node()
    x = colander.SchemaNode(colander.Integer(), title="x offset", default=0, missing=0,
                            validator=colander.Range(-MAX_CANVAS, MAX_CANVAS))
    y = colander.SchemaNode(colander.Integer(), title="y offset", default=0, missing=0,
                            validator=colander.Range(-MAX_CANVAS, MAX_CANVAS))

    def validator(self, node, value):
        """Options must be chosen, and be options of the slot's component."""
        catalog = self.bindings["catalog"]
        error = colander.Invalid(node)
        if not value["options"]:
            error["options"] = "Allow at least one option."
        else:
            wrong = []
            for option_id in value["options"]:
                option = catalog.options.get(option_id)
                if option is None:
                    wrong.append(f"{option_id} (no such option)")
                elif option.component.key != value["component"]:
                    wrong.append(f"{option.component.key}/{option.key}")
            if wrong:
                error["options"] = (
                    f"Not options of the component {value['component']}: {', '.join(wrong)}."
                )
        if error.children:
            raise error


class Slots(colander.SequenceSchema):
    slot = SlotSchema(title="Slot", widget=deform.widget.MappingWidget(item_css_class="k2-slot"))


class TierSchema(colander.MappingSchema):
    name = colander.SchemaNode(colander.String(), title="Tier name", missing="",
                               validator=text_validator(100), description="Optional, e.g. “Base” or “Top”.")
    slots = Slots(
        title="Slots",
        # max_len: Deform's "Add slot" stops there (the total is checked on save).
        widget=deform.widget.SequenceWidget(orderable=True, add_subitem_text_template="Add slot",
                                            css_class="k2-slots", max_len=MAX_SLOTS_PER_TIER),
    )


class Tiers(colander.SequenceSchema):
    tier = TierSchema(title="Tier", widget=deform.widget.MappingWidget(item_css_class="k2-tier"))


def unique_key_validator(model, field, instance_kw):
    """Deferred validator: a well-formed slug that no other ``model`` row
    (other than the one being edited, bound as ``instance_kw``) uses."""
    noun = model._meta.verbose_name

    @colander.deferred
    def deferred(node, kw):
        instance = kw.get(instance_kw)

        def unique(node, value):
            others = model.objects.filter(**{field: value})
            if instance is not None and instance.pk:
                others = others.exclude(pk=instance.pk)
            if others.exists():
                raise colander.Invalid(node, f"The {field} {value} is taken by another {noun}.")

        return slug_validator(unique)

    return deferred


deferred_trophy_slug_validator = unique_key_validator(Trophy, "slug", "trophy")


def fill_slot_keys(value):
    """Preparer of the trophy: a slot without a key gets its component's key
    (then key-2, key-3 ...), skipping keys other slots have. Linear: each
    component's numbering resumes where the last slot of it stopped."""
    if not isinstance(value, dict) or not isinstance(value.get("tiers"), list):
        return value
    slots = [slot for tier in value["tiers"] for slot in tier.get("slots", [])]
    taken = {slot["key"] for slot in slots if slot.get("key")}
    next_number = {}  # component key prefix -> the number to try next
    for slot in slots:
        if slot.get("key") or not slot.get("component"):
            continue
        base = slot["component"][:45]
        number = next_number.get(base, 1)
        candidate = base if number == 1 else f"{base}-{number}"
        while candidate in taken:
            number += 1
            candidate = f"{base}-{number}"
        next_number[base] = number + 1
        slot["key"] = candidate
        taken.add(candidate)
    return value


def trim_to_limits(pstruct):
    """Bound a submitted trophy (peppercorn's pstruct) before Deform sees it:
    past the limits of trophies.trophy_limits it is cut to them, so a huge
    post is neither validated nor shown again whole. Returns the message
    when it was over a limit, else None."""
    tiers = pstruct.get("tiers") if isinstance(pstruct, dict) else None
    if not isinstance(tiers, list):
        return None
    slot_lists = [tier.get("slots") if isinstance(tier, dict) else None for tier in tiers]
    problem = shape_problem([len(slots) if isinstance(slots, list) else 0 for slots in slot_lists])
    if problem is None:
        return None
    del tiers[MAX_TIERS:]
    room = MAX_SLOTS
    for tier in tiers:
        if isinstance(tier, dict) and isinstance(tier.get("slots"), list):
            del tier["slots"][min(MAX_SLOTS_PER_TIER, room):]
            room -= len(tier["slots"])
    return problem


def trophy_radices(value):
    return [len(slot["options"]) for tier in value["tiers"] for slot in tier["slots"]]


class TrophySchema(colander.MappingSchema):
    name = colander.SchemaNode(colander.String(), title="Name", validator=text_validator(100, min_length=1))
    slug = colander.SchemaNode(
        colander.String(), title="Slug", validator=deferred_trophy_slug_validator,
        description="Used in URLs (/t/SLUG/): letters, digits, hyphens, underscores.",
    )
    width = colander.SchemaNode(colander.Integer(), title="Canvas width (px)", default=400,
                                validator=colander.Range(MIN_CANVAS, MAX_CANVAS))
    height = colander.SchemaNode(colander.Integer(), title="Canvas height (px)", default=500,
                                 validator=colander.Range(MIN_CANVAS, MAX_CANVAS))
    format = colander.SchemaNode(
        colander.String(), title="Image format", default="JPEG",
        widget=deform.widget.SelectWidget(values=FORMATS),
        validator=colander.OneOf([value for value, _ in FORMATS]),
    )
    tiers = Tiers(
        title="Tiers (bottom first)",
        widget=deform.widget.SequenceWidget(orderable=True, add_subitem_text_template="Add tier",
                                            css_class="k2-tiers", max_len=MAX_TIERS),
        description="Layers are drawn bottom tier first, then each tier's slots in order.",
    )

    def __init__(self, *args, **kw):
        kw.setdefault("preparer", fill_slot_keys)
        super().__init__(*args, **kw)

    def validator(self, node, value):
        error = colander.Invalid(node)
        tiers_node = node["tiers"]
        tier_node = tiers_node.children[0]
        slots_node = tier_node["slots"]
        slot_node = slots_node.children[0]
        # Slot keys unique in the trophy.
        seen = {}
        for t, tier in enumerate(value["tiers"]):
            for s, slot in enumerate(tier["slots"]):
                if slot["key"] in seen:
                    tiers_error = _child_error(error, tiers_node, node.children.index(tiers_node))
                    tier_error = _child_error(tiers_error, tier_node, t)
                    slots_error = _child_error(tier_error, slots_node, tier_node.children.index(slots_node))
                    slot_error = _child_error(slots_error, slot_node, s)
                    where = seen[slot["key"]]
                    slot_error["key"] = (
                        f"The key {slot['key']} is already used by slot {where[1] + 1} of tier {where[0] + 1}."
                    )
                else:
                    seen[slot["key"]] = (t, s)
        if error.children:
            raise error
        problem = shape_problem([len(tier["slots"]) for tier in value["tiers"]])
        if problem:
            raise colander.Invalid(node, problem)
        radices = trophy_radices(value)
        if not radices:
            raise colander.Invalid(node, "A trophy needs at least one tier with one slot.")
        total = combinations.count(radices)
        limit = settings.K2_MAX_COMBINATIONS
        if total > limit:
            raise colander.Invalid(
                node,
                f"Too many combinations: {combinations.describe(radices)}; the limit is {limit:,}.",
            )


def _child_error(parent, node, position):
    """The Invalid of ``node`` under ``parent``, created on first use."""
    for child in parent.children:
        if child.node is node and child.pos == position:
            return child
    child = colander.Invalid(node)
    parent.add(child, position)
    return child


# -- parts library -------------------------------------------------------------


deferred_component_key_validator = unique_key_validator(Component, "key", "component")


class ComponentSchema(colander.MappingSchema):
    name = colander.SchemaNode(colander.String(), title="Name", validator=text_validator(100, min_length=1),
                               description="A kind of part, e.g. Base, Figure, Plate.")
    key = colander.SchemaNode(colander.String(), title="Key", validator=deferred_component_key_validator,
                              description="Short name in URLs; letters, digits, hyphens, underscores.")


@colander.deferred
def deferred_option_key_validator(node, kw):
    component, option = kw["component"], kw.get("option")

    def unique(node, value):
        others = Option.objects.filter(component=component, key=value)
        if option is not None and option.pk:
            others = others.exclude(pk=option.pk)
        if others.exists():
            raise colander.Invalid(node, f"{component.name} already has an option {value}.")

    return slug_validator(unique)


@colander.deferred
def deferred_layer_widget(node, kw):
    return deform.widget.FileUploadWidget(kw["tmpstore"], accept="image/*")


@colander.deferred
def deferred_layer_missing(node, kw):
    # A new option needs a layer; an existing one keeps its layer when none is sent.
    return colander.required if kw.get("option") is None else None


def validate_layer(node, value):
    """Pillow must decode the upload within the pixel and byte limits."""
    if not value:
        return
    try:
        data = read_upload(value)
    except OSError as error:
        raise colander.Invalid(node, f"The upload could not be read ({error}); please choose the file again.")
    try:
        decode_layer(data)
    except LayerRejected as error:
        raise colander.Invalid(node, f"Not accepted as a layer: {error}.")


def read_upload(value):
    """Bytes of a FileData appstruct (fresh upload or kept in the tmpstore)."""
    fp = value["fp"]
    fp.seek(0)
    data = fp.read()
    fp.seek(0)
    return data


class OptionSchema(colander.MappingSchema):
    label = colander.SchemaNode(colander.String(), title="Label", validator=text_validator(100, min_length=1))
    key = colander.SchemaNode(colander.String(), title="Key", validator=deferred_option_key_validator,
                              description="Name of the option in URLs; unique in the component.")
    position = colander.SchemaNode(colander.Integer(), title="Position", default=0, missing=0,
                                   validator=colander.Range(0, 100_000),
                                   description="Options are listed by position.")
    layer = colander.SchemaNode(
        deform.FileData(), title="Layer image", widget=deferred_layer_widget, missing=deferred_layer_missing,
        validator=validate_layer,
        description="PNG, JPEG, WebP... with transparency where the part is not; stored as RGBA PNG.",
    )
