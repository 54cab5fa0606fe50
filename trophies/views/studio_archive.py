"""Studio Export (a zip download) and Import (upload, dry-run listing,
confirm). Thin: archives in trophies.services.archive, the upload kept
between the two steps by trophies.services.pending_imports."""
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from locks import LockTimeout
from trophies.services import archive, catalog, pending_imports
from trophies.services.layers import LayerRejected
from trophies.views.access import IMPORT_PERMISSIONS, require, staff_page

REFUSALS = (archive.ArchiveRejected, catalog.TrophyBusy, LayerRejected, LockTimeout)


@staff_page
@require_GET
def export(request):
    slugs, parts = request.GET.getlist("trophy"), request.GET.getlist("part")
    try:
        data = archive.export_bytes(slugs, parts)
    except archive.ArchiveRejected as error:
        raise Http404(str(error)) from None
    what = "-".join(slugs + parts) or "catalog"
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="k2-{what}.zip"'
    return response


@staff_page
@require_http_methods(["GET", "POST"])
def import_page(request):
    require(request, *IMPORT_PERMISSIONS)
    if request.method == "GET":
        pending_imports.discard(request.session)
        return _page(request)
    if "confirm" in request.POST:
        return _confirm(request)
    upload = request.FILES.get("archive")
    if upload is None:
        return _page(request, error="Choose a catalog archive (.zip) to import.")
    path = pending_imports.keep(request.session, upload, upload.name)
    try:
        report = archive.import_catalog(path, dry_run=True)
    except REFUSALS as error:
        pending_imports.discard(request.session)
        return _page(request, error=f"{error} Nothing was imported.")
    return _page(request, report=report, filename=upload.name)


def _confirm(request):
    entry = pending_imports.pending(request.session)
    if entry is None:
        return _page(request, error="The uploaded archive is gone (it is kept for an hour): upload it again.")
    path, filename = entry
    try:
        report = archive.import_catalog(path)
    except REFUSALS as error:
        return _page(request, error=f"{error} Nothing was imported.")
    finally:
        pending_imports.discard(request.session)
    messages.success(request, f"Imported {filename}: {report.lines()[0]}.")
    return redirect("studio-trophies")


def _page(request, error=None, report=None, filename=None):
    return render(request, "trophies/studio/import.html", {"error": error, "report": report, "filename": filename},
                  status=400 if error else 200)
