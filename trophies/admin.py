from django.contrib import admin
from django.utils.html import format_html

from trophies.models import Component, Option, Slot, Tier, Trophy


def layer_thumbnail(option):
    if not option.layer:
        return "-"
    return format_html(
        '<img src="{}" alt="{}" style="height:48px;background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 0 0/12px 12px">',
        option.layer.url, option.label,
    )


class OptionInline(admin.TabularInline):
    model = Option
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


@admin.register(Option)
class OptionAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "label", "key", "component", "position"]
    list_display_links = ["thumbnail", "label"]
    list_filter = ["component"]
    search_fields = ["label", "key"]
    readonly_fields = ["thumbnail", "layer_digest"]

    @admin.display(description="preview")
    def thumbnail(self, option):
        return layer_thumbnail(option)

    def save_model(self, request, obj, form, change):
        from trophies.services.layers import refresh_digest

        refresh_digest(obj)
        super().save_model(request, obj, form, change)


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
    list_display = ["name", "slug", "width", "height", "format", "combination_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TierInline]

    @admin.display(description="combinations")
    def combination_count(self, trophy):
        return f"{trophy.combinations:,}"
