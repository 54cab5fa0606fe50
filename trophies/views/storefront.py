"""Public pages: the configurator, images by choice, and the files.

Only published trophies are public; staff preview drafts (answered
``private, no-store``, so no shared cache keeps them), anyone else gets 404
as for a trophy that does not exist (trophies.services.visibility).

Rendered images are served under names that are their fingerprints, so
they are cached for a year and never revalidated; a rebuild that changes a
picture changes its URL. In production the web server serves /renders/ and
/media/ from disk (deploy/nginx/k2.conf) and these views only
back it up.
"""
import mimetypes
from urllib.parse import urlencode
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils._os import safe_join
from django.views.decorators.http import require_safe

from locks import LockTimeout
from trophies.services import plans, storefront, visibility

IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_CACHE = "public, max-age=300"
# Which picture a choice names can change with a rebuild: cache the redirect briefly.
REDIRECT_CACHE = "public, max-age=60"
DRAFT_CACHE = "private, no-store"


def _plain(text, status):
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


def _visible_or_404(request, slug):
    """True when the trophy is published; False for a staff preview of a
    draft; Http404 for anyone else (a draft looks like no trophy at all)."""
    visible, public = visibility.may_see(request, slug)
    if not visible:
        raise Http404("no such trophy")
    return public


def _plan_or_404(slug):
    plan = plans.current(slug)
    if plan is None:
        raise Http404("no such trophy")
    return plan


def _private_unless(public, response):
    if not public:
        response["Cache-Control"] = DRAFT_CACHE
    return response


@require_safe
def configurator(request, slug):
    public = _visible_or_404(request, slug)
    plan = _plan_or_404(slug)
    data = storefront.configurator(plan)
    buildable = plan.total > 0
    chosen, src = {}, ""
    if buildable:
        # Start from the choices in the query when they are valid, else the first options.
        chosen = {slot["key"]: slot["options"][0]["key"] for slot in data["slots"]}
        asked = {key: request.GET[key] for key in chosen if request.GET.get(key)}
        try:
            plan.digits_for({**chosen, **asked})
            chosen.update(asked)
        except storefront.UnknownChoice:
            pass
        # The built file when there is one (one stat), else the on-demand URL.
        _, digits, layout = storefront.locate(plan, chosen)
        src = layout.url(digits) if Path(layout.path(digits)).is_file() else \
            f"{data['image_endpoint']}?{urlencode(chosen)}"
    return _private_unless(public, render(request, "trophies/storefront/configurator.html", {
        "trophy": plan, "data": data, "chosen": chosen, "buildable": buildable, "src": src, "draft": not public,
    }))


@require_safe
def image(request, slug):
    public = _visible_or_404(request, slug)
    plan = _plan_or_404(slug)
    chosen = {key: request.GET[key] for key in request.GET}
    try:
        _, url, _ = storefront.ensure_image(plan, chosen, client=request.META.get("REMOTE_ADDR", ""))
    except storefront.RenderRefused as error:
        response = _plain(str(error), 429 if isinstance(error, storefront.TooManyRenders) else 503)
        response["Retry-After"] = str(error.retry_after)
        return response
    except storefront.UnknownChoice as error:
        return _plain(f"bad choice: {error}", 400)
    except storefront.NoPictures as error:
        return _plain(str(error), 404)
    except LockTimeout:
        response = _plain("this picture is being rendered; try again shortly", 503)
        response["Retry-After"] = "2"
        return response
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = REDIRECT_CACHE
    return _private_unless(public, response)


def _file_response(root, path, cache_control):
    # safe_join refuses anything outside root ("..", absolute paths);
    # dot-folders (the writers' .tmp scratch space) are never served.
    if any(part.startswith(".") for part in Path(path).parts):
        raise Http404("not found")
    try:
        full = Path(safe_join(root, path))
    except (SuspiciousFileOperation, ValueError):
        raise Http404("not found") from None
    if not full.is_file():
        raise Http404("not found")
    content_type = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
    response = FileResponse(open(full, "rb"), content_type=content_type)
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
def render_file(request, path):
    """A rendered picture: its first folder is its trophy's slug."""
    public = _visible_or_404(request, path.split("/", 1)[0])
    return _file_response(settings.K2_RENDER_DIR, path, IMMUTABLE if public else DRAFT_CACHE)


@require_safe
def media_file(request, path):
    """Option layers and their thumbnails; other uploads under MEDIA_ROOT are not public."""
    if not path.startswith(("layers/", "thumbs/")):
        raise Http404("not found")
    return _file_response(settings.MEDIA_ROOT, path, MEDIA_CACHE)
