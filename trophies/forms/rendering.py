"""Deform inside Django: the Chameleon renderer, static resources, and
turning ordered controls into an appstruct or a form to show again."""
from pathlib import Path

import colander
import deform
import peppercorn
from django.conf import settings
from django.templatetags.static import static

from trophies.forms.tmpstore import is_uid

# Our widget templates, searched before Deform's own.
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DEFORM_TEMPLATE_DIR = Path(deform.__file__).resolve().parent / "templates"

# Deform's base resources, in deformdemo's order; widget resources follow.
BASE_CSS = ["css/form.css", "css/bootstrap.min.css", "css/bootstrap-icons.min.css"]
BASE_JS = ["scripts/bootstrap.bundle.min.js"]
# Not the jQuery 2.0.3 Deform ships (known vulnerabilities): jQuery 3.7.1,
# vendored under static/k2/vendor/ (version and sha256 in the README).
JQUERY = "k2/vendor/jquery-3.7.1.min.js"

# Controls every Deform form sends that are not schema fields.
FRAMEWORK_CONTROLS = {"_charset_", "__formid__", "csrfmiddlewaretoken"}

_configured = False


def configure_deform():
    """Point Deform's global renderer at our templates, then Deform's, with
    Chameleon's debug output off. Call once from ``TrophiesConfig.ready()``;
    :func:`make_form` calls it lazily too."""
    global _configured
    deform.Form.set_zpt_renderer(
        [str(TEMPLATE_DIR), str(DEFORM_TEMPLATE_DIR)],
        auto_reload=settings.DEBUG,
        debug=False,
    )
    _configured = True


def make_form(schema, buttons=("save",), **kw):
    if not _configured:
        configure_deform()
    form = deform.Form(schema, buttons=buttons, **kw)
    # The server's messages beside the fields, rather than the browser's
    # first-field bubble (the required markers stay).
    form.widget.attributes = {"novalidate": "novalidate"}
    return form


def deform_static(spec):
    """'deform:static/scripts/deform.js' -> '/static/deform/scripts/deform.js'."""
    if ":" in spec:
        package, path = spec.split(":", 1)
        if package != "deform" or not path.startswith("static/"):
            raise ValueError(f"resource {spec!r} is not one of Deform's static files")
        path = path[len("static/"):]
    else:
        path = spec
    return static("deform/" + path)


def form_resources(form):
    """{"css": [url, ...], "js": [url, ...]} for a page showing ``form``."""
    resources = form.get_widget_resources()
    css = [deform_static(path) for path in BASE_CSS]
    js = [static(JQUERY)] + [deform_static(path) for path in BASE_JS]
    for spec in resources.get("css", ()):
        url = deform_static(spec)
        if url not in css:
            css.append(url)
    for spec in resources.get("js", ()):
        url = deform_static(spec)
        if "/jquery-2." in url:
            continue  # a widget asking for Deform's own old jQuery gets ours
        if url not in js:
            js.append(url)
    return {"css": css, "js": js}


def check_pstruct(field, pstruct, prefix=""):
    """Compare peppercorn's structure with the form's fields before Deform
    sees it (Deform's widgets assume the right shapes). Returns
    ``(unknown, misshapen)``: dotted paths of names the form has no field
    for (tampering or a stale page) and of values of the wrong kind (a
    sequence sent as text, text sent as a file...)."""
    unknown, misshapen = [], []
    if not isinstance(pstruct, dict):
        return unknown, [prefix.rstrip(".") or "(form)"]
    children = {child.name: child for child in field.children}
    for name, value in pstruct.items():
        path = f"{prefix}{name}"
        child = children.get(name)
        if child is None:
            unknown.append(path)
            continue
        more_unknown, more_misshapen = _check_value(child, value, path)
        unknown += more_unknown
        misshapen += more_misshapen
    return unknown, misshapen


def _check_value(field, value, path):
    typ, widget = field.schema.typ, field.widget
    if isinstance(widget, deform.widget.FileUploadWidget):
        ok = isinstance(value, dict) and all(isinstance(key, str) for key in value) and (
            value.get("uid") is None or is_uid(value.get("uid")))
        return [], ([] if ok else [path])
    if isinstance(typ, colander.Mapping):
        return check_pstruct(field, value, path + ".")
    if isinstance(widget, deform.widget.CheckboxChoiceWidget):
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        return [], ([] if ok else [path])
    if isinstance(typ, colander.Sequence):
        if not isinstance(value, list):
            return [], [path]
        unknown, misshapen = [], []
        item = field.children[0] if field.children else None
        for index, element in enumerate(value):
            if item is None:
                misshapen.append(f"{path}.{index}")
                continue
            more_unknown, more_misshapen = _check_value(item, element, f"{path}.{index}")
            unknown += more_unknown
            misshapen += more_misshapen
        return unknown, misshapen
    return [], ([] if isinstance(value, str) else [path])


def _listed(paths):
    return ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")


def form_error(form, message, appstruct=colander.null, cstruct=None):
    """A :class:`deform.ValidationFailure` carrying a form-level message, to
    show the form again with ``cstruct`` (what was typed) or ``appstruct``."""
    if cstruct is None:
        cstruct = form.schema.serialize(appstruct)
    return _failure(form, cstruct, colander.Invalid(form.schema, message))


def _failure(form, cstruct, error):
    # Deform marks the fields itself only when its own validation fails.
    form.widget.handle_error(form, error)
    return deform.ValidationFailure(form, cstruct, error)


def field_error(form, path, message, appstruct):
    """A failure with ``message`` beside the field at ``path``, e.g.
    ``("layer",)`` or ``("tiers", 0, "slots", 1, "key")``."""
    cstruct = form.schema.serialize(appstruct)
    root = colander.Invalid(form.schema)
    parent_error, node = root, form.schema
    for step in path:
        if isinstance(step, int):
            child = node.children[0]
            position = step
        else:
            child = node[step]
            position = node.children.index(child)
        error = colander.Invalid(child, message if step == path[-1] and child is not None else None)
        parent_error.add(error, position)
        parent_error, node = error, child
    return _failure(form, cstruct, root)


def validate_controls(form, controls, initial=colander.null, limit=None):
    """Ordered controls -> appstruct, or raise :class:`deform.ValidationFailure`
    for anything wrong with them: broken structure (missing ``__end__``),
    fields the form does not have, bad values. A submission too broken to
    show again shows ``initial`` with the reason. ``limit(pstruct)`` may cut
    a submission too big to validate or show whole, returning why."""
    controls = [(name, value) for name, value in controls if name not in FRAMEWORK_CONTROLS]
    button_names = {button.name for button in form.buttons}
    controls = [(name, value) for name, value in controls if name not in button_names]
    for name, value in controls:
        if name in (peppercorn.START, peppercorn.END) and not isinstance(value, str):
            raise form_error(form, "The submission is malformed: a structure marker is not text.", initial)
    try:
        pstruct = peppercorn.parse(controls)
    except (ValueError, TypeError, IndexError) as error:
        raise form_error(form, f"The submission is malformed ({error}); nothing was saved.", initial) from None
    unknown, misshapen = check_pstruct(form, pstruct)
    if misshapen:
        raise form_error(form, f"The submission is malformed: wrong kind of value for {_listed(misshapen)}; "
                         "nothing was saved.", initial)
    over = limit(pstruct) if limit else None
    if over:
        try:
            form.validate_pstruct(pstruct)  # the messages of what is left, beside its fields
        except deform.ValidationFailure:
            pass
        raise form_error(form, f"{over} Nothing was saved; the form shows what fits within the limits.",
                         cstruct=form.cstruct)
    appstruct = form.validate_pstruct(pstruct)
    if unknown:
        raise form_error(form, f"The submission has fields this form does not have: {_listed(unknown)}.",
                         cstruct=form.cstruct)
    return appstruct
