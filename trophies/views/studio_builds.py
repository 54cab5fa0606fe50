"""Staff pages for builds: the list with a start form per trophy, and a
build's page (live progress, throughput, workers, failed chunks, gallery).
The pages follow /api/builds/N/events (polling /api/builds/N/ when it
cannot be opened); workers and the chart poll the JSON views below."""
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from trophies.models import Build, Trophy
from trophies.services import build_history, builds, disk_usage, plans, stalls
from trophies.services.build_activity import activity as build_activity
from trophies.services.build_status import status_of
from trophies.services.gallery import gallery_page
from trophies.services.throughput import build_series
from trophies.views.access import require, staff_json, staff_page

BUILDS_PER_PAGE = 25
FILTER_PREFIX = "f-"


def _page_number(request):
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


def _moment(iso):
    return datetime.fromisoformat(iso) if iso else None


@require_GET
@staff_page
def build_list(request):
    listed = Build.objects.select_related("trophy")
    trophy_filter = request.GET.get("trophy", "")
    if trophy_filter:  # a trophy's builds page
        listed = listed.filter(trophy__slug=trophy_filter)
    paginator = Paginator(listed, BUILDS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = []
    for build in page.object_list:
        status = status_of(build, with_past=False)
        rows.append({"build": build, "status": status, "done_text": f"{status['done']:,} / {status['total']:,}",
                     "stall": stalls.details(build, _moment(status["stalled_since"]))})
    all_trophies = list(Trophy.objects.all())
    current = plans.current_of(all_trophies)
    running = {build.trophy_id: build for build in Build.objects.filter(state__in=Build.ACTIVE).order_by("id")}
    trophies = [{"trophy": t, "combinations_text": f"{current[t.pk].total:,}", "running": running.get(t.pk)}
                for t in all_trophies]
    return render(request, "trophies/builds/list.html", {"rows": rows, "page": page, "trophies": trophies,
                                                         "trophy_filter": trophy_filter})


@require_POST
@staff_page
def start(request, slug):
    require(request, "trophies.start_build")
    trophy = get_object_or_404(Trophy, slug=slug)
    try:
        build = builds.start_build(trophy, requested_by=request.user.get_username(),
                                   confirm_disk=request.POST.get("confirm_disk") == "1")
    except builds.BuildAlreadyRunning as error:
        messages.info(request, f"{error}; showing it.")
        return redirect("studio-build", build_id=error.build.pk)
    except builds.BuildError as error:
        messages.error(request, str(error))
        return redirect("studio-builds")
    messages.success(request, f"Build {build.pk} of {trophy.name} started: {build.total:,} combinations.")
    return redirect("studio-build", build_id=build.pk)


@require_GET
@staff_page
def build_page(request, build_id):
    build = get_object_or_404(Build.objects.select_related("trophy"), pk=build_id)
    filters = {key[len(FILTER_PREFIX):]: value for key, value in request.GET.items()
               if key.startswith(FILTER_PREFIX) and value}
    plan = builds.plan_of(build)  # the pictures this build made
    gallery = gallery_page(plan, filters, _page_number(request))
    filter_fields = [{"name": FILTER_PREFIX + slot.key, "label": slot.component_name, "key": slot.key,
                      "options": slot.options, "value": gallery.filters.get(slot.key, "")}
                     for slot in plan.slots]
    query = urlencode({FILTER_PREFIX + key: value for key, value in gallery.filters.items()})
    status = status_of(build)
    return render(request, "trophies/builds/detail.html", {
        "build": build, "status": status, "activity": _activity(request, build),
        "stall": stalls.details(build, _moment(status["stalled_since"])),
        "comparison": _comparison(build, status),
        "gallery": gallery, "filter_fields": filter_fields, "filter_query": query,
        "disk": disk_usage.cached(build.trophy.slug),  # never a walk here: the page must stay fast
    })


def _comparison(build, status):
    slowest = build_history.slowest_duration_s(build)
    runs = [{"build": past, "figures": build_history.figures_of(past)}
            for past in build_history.past_builds(build.trophy_id, before=build.pk)]
    return {"past": status["past"], "slowest_s": slowest, "pace": build_history.pace(status, slowest),
            "expected_s": status["elapsed_s"] + (status["eta_s"] or 0), "runs": runs}


@require_GET
@staff_json
def throughput(request, build_id):
    build = get_object_or_404(Build, pk=build_id)
    return JsonResponse({"id": build.pk, **build_series(build)})


def _activity(request, build):
    """The build's activity; its cancel and retry buttons show only to
    staff who may use them."""
    found = build_activity(build)
    found["can_cancel"] = found["can_cancel"] and request.user.has_perm("trophies.cancel_build")
    found["can_retry"] = found["can_retry"] and request.user.has_perm("trophies.retry_build")
    return found


@require_GET
@staff_json
def activity(request, build_id):
    build = get_object_or_404(Build, pk=build_id)
    return JsonResponse(_activity(request, build))
