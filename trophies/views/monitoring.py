"""The queue and worker dashboard, its JSON and the Prometheus endpoint:
thin views over ``trophies.services.monitoring``."""
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from locks.access import metrics_allowed, metrics_forbidden
from trophies.services import metrics as prometheus_metrics, monitoring
from trophies.services.health import CRITICAL, check_health
from trophies.views.access import staff_json, staff_page

@require_GET
@staff_page
def queues(request):
    return render(request, "trophies/monitoring/queues.html", {"stats": monitoring.stats()})


@require_GET
@staff_json
def api_stats(request):
    return JsonResponse(monitoring.stats())


@require_GET
@never_cache
def healthz(request):
    """The health verdict for load balancers (status code, and the status
    word to anyone) and monitors (everything, as for /metrics)."""
    health = check_health()
    body = health.as_json() if metrics_allowed(request) else {"status": health.name}
    return JsonResponse(body, status=503 if health.status == CRITICAL else 200)


@require_GET
@never_cache
def metrics(request):
    if not metrics_allowed(request):
        return metrics_forbidden()
    body, content_type = prometheus_metrics.exposition(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)
