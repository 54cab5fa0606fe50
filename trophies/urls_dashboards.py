"""Staff dashboards and their JSON (included at the site root, so the
paths are written out in full)."""
from django.urls import path

from trophies.views import monitoring, studio_builds

urlpatterns = [
    path("studio/queues/", monitoring.queues, name="studio-queues"),
    path("api/stats/", monitoring.api_stats, name="api-stats"),
    path("api/builds/<int:build_id>/throughput/", studio_builds.throughput, name="api-build-throughput"),
    path("api/builds/<int:build_id>/activity/", studio_builds.activity, name="api-build-activity"),
]
