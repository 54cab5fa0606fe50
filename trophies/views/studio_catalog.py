"""Studio pages for the catalog: the parts library (components, options and
their layers) and the trophy builder. Thin: forms in trophies.forms, saving
in trophies.services.catalog."""
import colander
import deform
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from locks import LockTimeout
from trophies import combinations
from trophies.forms.controls import ControlsError, form_controls, ordered_post
from trophies.forms.rendering import field_error, form_error, form_resources, make_form, validate_controls
from trophies.forms.schemas import (
    ComponentSchema,
    OptionSchema,
    PartsCatalog,
    TrophySchema,
    option_groups,
    read_upload,
    trim_to_limits,
    trophy_radices,
)
from trophies.forms.tmpstore import SessionTmpStore
from trophies.models import Component, Option, Trophy
from trophies.services import catalog, disk_usage, plans, publishing
from trophies.views.access import IMPORT_PERMISSIONS, require, staff_page


def _form(request, schema, button="save", title=None, **bindings):
    form = make_form(schema.bind(request=request, **bindings),
                     buttons=(deform.Button(button, title or button.capitalize()),))
    form.csrf_token = get_token(request)
    return form


def _submit(request, form, initial=colander.null, limit=None):
    """(appstruct, None) for a valid POST, else (None, failure) to show again."""
    try:
        controls = form_controls(request)
    except ControlsError as error:
        return None, form_error(form, f"The submission could not be read: {error}. Nothing was saved.", initial)
    try:
        return validate_controls(form, controls, initial, limit), None
    except deform.ValidationFailure as failure:
        return None, failure


def _page(request, template, form, html, **context):
    return render(request, template, {"form_html": mark_safe(html), "resources": form_resources(form), **context})


def layer_url(option):
    url = reverse("studio-option-layer", args=[option.component.key, option.key])
    return f"{url}?v={option.layer_digest[:12]}"


# -- landing ---------------------------------------------------------------------


@staff_page
@require_GET
def studio_home(request):
    return render(request, "trophies/studio/home.html", {
        "component_count": Component.objects.count(),
        "option_count": Option.objects.count(),
        "trophy_count": Trophy.objects.count(),
    })


# -- parts library ---------------------------------------------------------------


@staff_page
@require_GET
def parts(request):
    components = Component.objects.prefetch_related("options").order_by("name")
    rows = [{"component": c, "options": [(o, layer_url(o)) for o in c.options.all()]} for c in components]
    return render(request, "trophies/studio/parts.html", {"rows": rows})


@ordered_post
@staff_page
@require_http_methods(["GET", "POST"])
def component_edit(request, key=None):
    component = get_object_or_404(Component, key=key) if key else None
    require(request, "trophies.change_component" if component else "trophies.add_component")
    form = _form(request, ComponentSchema(), component=component,
                 title="Save component" if component else "Add component")
    initial = catalog.component_appstruct(component) if component else colander.null
    if request.method == "POST":
        appstruct, failure = _submit(request, form, initial)
        if failure is None:
            component = catalog.save_component(appstruct, component)
            messages.success(request, f"Saved component “{component.name}”.")
            return redirect("studio-component", key=component.key)
        html = failure.render()
    else:
        html = form.render(initial)
    options = [(o, layer_url(o)) for o in component.options.all()] if component else []
    return _page(request, "trophies/studio/component.html", form, html, component=component, options=options)


@ordered_post
@staff_page
@require_http_methods(["GET", "POST"])
def option_edit(request, key, option_key=None):
    component = get_object_or_404(Component, key=key)
    option = get_object_or_404(Option, component=component, key=option_key) if option_key else None
    require(request, "trophies.change_option" if option else "trophies.add_option")
    tmpstore = SessionTmpStore(request)
    form = _form(request, OptionSchema(), component=component, option=option, tmpstore=tmpstore,
                 title="Save option" if option else "Add option")
    initial = catalog.option_appstruct(option) if option else colander.null
    if request.method == "POST":
        appstruct, failure = _submit(request, form, initial)
        if failure is None:
            layer = appstruct.get("layer")
            data = read_upload(layer) if layer else None
            try:
                option = catalog.save_option(component, appstruct, data, option, owner=f"user {request.user}")
            except LockTimeout:
                failure = field_error(
                    form, ("layer",),
                    f"The layers of {component.name} are busy (a build is reading them); "
                    "nothing was saved. Try again in a moment.",
                    appstruct,
                )
            else:
                if layer:
                    tmpstore.discard(layer.get("uid"))
                messages.success(request, f"Saved option “{option.label}” of {component.name}.")
                return redirect("studio-component", key=component.key)
        else:
            _forget_refused_upload(form, failure, tmpstore)
        html = failure.render()
    else:
        html = form.render(initial)
    return _page(request, "trophies/studio/option.html", form, html, component=component, option=option,
                 current_layer=layer_url(option) if option and option.layer else None)


def _forget_refused_upload(form, failure, tmpstore):
    """A refused layer is not kept for the next submission."""
    if form["layer"].error is None or not isinstance(failure.cstruct, dict):
        return
    layer = failure.cstruct.get("layer")
    if isinstance(layer, dict) and layer.get("uid"):
        tmpstore.discard(layer["uid"])
    failure.cstruct["layer"] = form["layer"].cstruct = colander.null


@staff_page
@require_GET
def option_layer(request, key, option_key):
    option = get_object_or_404(Option, component__key=key, key=option_key)
    if not option.layer:
        raise Http404("no layer")
    try:
        handle = option.layer.open("rb")
    except FileNotFoundError:
        raise Http404("layer file missing") from None
    return FileResponse(handle, content_type="image/png")


@staff_page
@require_GET
def upload_preview(request, uid):
    path = SessionTmpStore(request).path(uid)
    if path is None:
        raise Http404("no such upload")
    entry = SessionTmpStore(request).get(uid)
    mimetype = entry.get("mimetype") or ""
    content_type = mimetype if mimetype.startswith("image/") and "svg" not in mimetype else "application/octet-stream"
    response = FileResponse(open(path, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# -- trophies --------------------------------------------------------------------


def _option_library(form, parts_catalog):
    """Every component's option group once per page: slots render only their
    own, and the studio script copies from here when a slot's component changes."""
    groups = option_groups(parts_catalog, layer_url)
    return mark_safe("".join(form.renderer("option_group", group=group, cstruct=()) for group in groups))


@staff_page
@require_GET
def trophies(request):
    rows = catalog.trophy_rows()
    built = publishing.built_trophy_ids()
    for row in rows:
        row["disk"] = disk_usage.usage_of(row["trophy"].slug)
        row["built"] = row["trophy"].pk in built
    return render(request, "trophies/studio/trophies.html", {
        "rows": rows, "can_import": request.user.has_perms(IMPORT_PERMISSIONS)})


@ordered_post
@staff_page
@require_http_methods(["GET", "POST"])
def trophy_edit(request, slug=None):
    trophy = get_object_or_404(Trophy, slug=slug) if slug else None
    require(request, "trophies.change_trophy" if trophy else "trophies.add_trophy")
    parts_catalog = PartsCatalog.load()
    form = _form(request, TrophySchema(), catalog=parts_catalog, trophy=trophy,
                 thumbnail_url=layer_url, title="Save trophy")
    initial = catalog.trophy_appstruct(trophy) if trophy else colander.null
    if request.method == "POST":
        appstruct, failure = _submit(request, form, initial, limit=trim_to_limits)
        if failure is None:
            try:
                saved = catalog.save_trophy(appstruct, trophy)
            except catalog.TrophyBusy as error:
                trophy.refresh_from_db()  # the refused edit was rolled back
                failure = form_error(form, str(error), appstruct)
            else:
                formula = combinations.describe(trophy_radices(appstruct))
                draft = "" if saved.published else " It is a draft: only staff see it until it is published."
                messages.success(request, f"Saved “{saved.name}”: {formula}.{draft}")
                return redirect("studio-trophy-edit", slug=saved.slug)
        html = failure.render()
    else:
        html = form.render(initial)
    return _page(request, "trophies/studio/trophy_form.html", form, html, trophy=trophy,
                 option_library=_option_library(form, parts_catalog),
                 no_components=not parts_catalog.components,
                 max_combinations=settings.K2_MAX_COMBINATIONS,
                 formula=plans.capture(trophy).describe() if trophy else "")
