"""JSON API for builds: start, read progress, cancel, retry."""
import json

from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from trophies.models import Build, Trophy
from trophies.services import builds
from trophies.services.build_status import status_of
from trophies.views.access import require, staff_json


@require_POST
@staff_json
def start(request, slug):
    require(request, "trophies.start_build")
    trophy = get_object_or_404(Trophy, slug=slug)
    try:
        build = builds.start_build(trophy, requested_by=request.user.get_username(),
                                   confirm_disk=confirm_disk(request))
    except builds.BuildAlreadyRunning as error:
        return JsonResponse({"error": str(error), "id": error.build.pk,
                             "url": f"/api/builds/{error.build.pk}/"}, status=409)
    except builds.BuildWouldNotFit as error:
        return JsonResponse({"error": str(error), "confirm_disk": False}, status=507)
    except builds.BuildUnavailable as error:
        return JsonResponse({"error": str(error)}, status=503)
    except builds.BuildError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"id": build.pk, "url": f"/api/builds/{build.pk}/"}, status=202)


def confirm_disk(request):
    """{"confirm_disk": true} in the JSON body (or a form field) starts a build the disk looks too small for."""
    if request.content_type == "application/json" and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("confirm_disk") is True
    return request.POST.get("confirm_disk") in ("1", "true", "on")


@require_GET
@staff_json
def detail(request, build_id):
    build = get_object_or_404(Build.objects.select_related("trophy"), pk=build_id)
    return JsonResponse(status_of(build))


@require_POST
@staff_json
def cancel(request, build_id):
    require(request, "trophies.cancel_build")
    build = get_object_or_404(Build.objects.select_related("trophy"), pk=build_id)
    if not builds.cancel_build(build):
        return JsonResponse({"error": f"build {build.pk} is already {build.state}"}, status=409)
    build.refresh_from_db()
    return JsonResponse(status_of(build))


@require_POST
@staff_json
def retry(request, build_id):
    require(request, "trophies.retry_build")
    build = get_object_or_404(Build.objects.select_related("trophy"), pk=build_id)
    try:
        count = builds.retry_failed_chunks(build)
    except builds.BuildError as error:
        return JsonResponse({"error": str(error)}, status=409)
    return JsonResponse({"id": build.pk, "retried_chunks": count, "url": f"/api/builds/{build.pk}/"}, status=202)
