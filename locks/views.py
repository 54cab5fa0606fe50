"""Lock dashboard, JSON snapshot and plain-text stats: thin views over
``locks.inspect.snapshot`` and ``locks.stats``."""
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from locks.access import is_staff, metrics_allowed, metrics_forbidden
from locks.inspect import snapshot
from locks.stats import stat_lines

__all__ = ("dashboard", "api_locks", "stats_txt")


@require_GET
@never_cache
@staff_member_required
def dashboard(request):
    return render(request, "locks/dashboard.html", {"snapshot": snapshot()})


@require_GET
@never_cache
def api_locks(request):
    # Scripts get a JSON 403 rather than a redirect to the login page.
    if not is_staff(request):
        return JsonResponse({"error": "staff login required"}, status=403)
    return JsonResponse(snapshot())


@require_GET
@never_cache
def stats_txt(request):
    if not metrics_allowed(request):
        return metrics_forbidden()
    return HttpResponse(stat_lines(snapshot()["stats"]), content_type="text/plain; charset=utf-8")
