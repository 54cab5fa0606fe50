from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from locks import LockTimeout
from trophies.models import Component, Option, Slot, Tier, Trophy
from trophies.services import plans
from trophies.services.layers import MAX_LAYER_BYTES, LayerRejected, decode_layer, replace_layer


def layer_thumbnail(option):
    if not option.layer:
        return "-"
    return format_html(
        '<img src="{}" alt="{}" style="height:48px;background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 0 0/12px 12px">',
        option.layer.url, option.label,
    )


class OptionForm(forms.ModelForm):
    """An option in the admin: a new layer is decoded and checked here (a
    refusal is a form error) and stored by the layer service on save."""

    class Meta:
        model = Option
        fields = ["component", "position", "key", "label", "layer"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_layer = self.instance.layer.name if self.instance.pk else ""
        self.new_layer = None

    def clean_layer(self):
        upload = self.cleaned_data.get("layer")
        if "layer" not in self.changed_data or not upload:
            return upload
        if upload.size > MAX_LAYER_BYTES:
            raise forms.ValidationError(f"Not accepted as a layer: the file is {upload.size:,} bytes; "
                                        f"the limit is {MAX_LAYER_BYTES:,}.")
        upload.seek(0)
        try:
            self.new_layer = decode_layer(upload.read())
        except LayerRejected as error:
            raise forms.ValidationError(f"Not accepted as a layer: {error}.") from None
        return upload


def save_option(request, form, option):
    """Save an admin-edited option; a new layer goes through replace_layer
    (normalised, fingerprinted, under the asset lock). False when the asset
    lock stayed busy (nothing saved, a message says so)."""
    if form.new_layer is None:
        option.save()
        return True
    option.layer = form.stored_layer  # the raw upload is never stored as it came
    try:
        replace_layer(option, form.new_layer, owner=f"admin {request.user}")
    except LockTimeout:
        messages.error(request, f"The layers of {option.component} are busy (a build is reading them); "
                                f"the layer of “{option.label}” was not saved. Try again in a moment.")
        return False
    return True


class OptionInline(admin.TabularInline):
    model = Option
    form = OptionForm
    extra = 0
    fields = ["position", "key", "label", "layer", "thumbnail"]
    readonly_fields = ["thumbnail"]

    @admin.display(description="preview")
    def thumbnail(self, option):
        return layer_thumbnail(option)


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "option_count"]
    search_fields = ["name", "key"]
    prepopulated_fields = {"key": ["name"]}
    inlines = [OptionInline]

    @admin.display(description="options")
    def option_count(self, component):
        return component.options.count()

    def save_formset(self, request, form, formset, change):
        if formset.model is not Option:
            return super().save_formset(request, form, formset, change)
        forms_of = {id(option_form.instance): option_form for option_form in formset.forms}
        for option in formset.save(commit=False):  # new and changed options, component set
            save_option(request, forms_of[id(option)], option)
        for option in formset.deleted_objects:
            option.delete()


@admin.register(Option)
class OptionAdmin(admin.ModelAdmin):
    form = OptionForm
    list_display = ["thumbnail", "label", "key", "component", "position"]
    list_display_links = ["thumbnail", "label"]
    list_filter = ["component"]
    search_fields = ["label", "key"]
    readonly_fields = ["thumbnail", "layer_digest"]

    @admin.display(description="preview")
    def thumbnail(self, option):
        return layer_thumbnail(option)

    def save_model(self, request, obj, form, change):
        save_option(request, form, obj)


class TierInline(admin.TabularInline):
    model = Tier
    extra = 0
    show_change_link = True


class SlotInline(admin.StackedInline):
    model = Slot
    extra = 0
    filter_horizontal = ["options"]


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["__str__", "trophy", "position"]
    list_filter = ["trophy"]
    inlines = [SlotInline]


@admin.register(Slot)
class SlotAdmin(admin.ModelAdmin):
    list_display = ["key", "component", "tier", "position", "x", "y"]
    list_filter = ["tier__trophy", "component"]
    filter_horizontal = ["options"]


@admin.register(Trophy)
class TrophyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "width", "height", "format", "published", "combination_count"]
    search_fields = ["name", "slug"]
    # Published in the studio, which checks the publish_trophy permission and the builds.
    readonly_fields = ["published"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TierInline]

    @admin.display(description="combinations")
    def combination_count(self, trophy):
        return f"{plans.current(trophy.slug).total:,}"
