from django.urls import include, path

from trophies.views import api, api_schema, build_events, builds_api, home, studio_preview

urlpatterns = [
    path("", home.home, name="home"),
    path("api/schema/", api_schema.schema, name="api-schema"),
    path("api/trophies/", api.trophy_list, name="api-trophies"),
    path("api/trophies/<slug:slug>/", api.trophy_detail, name="api-trophy"),
    path("api/trophies/<slug:slug>/builds/", builds_api.start, name="api-build-start"),
    path("api/builds/<int:build_id>/", builds_api.detail, name="api-build"),
    path("api/builds/<int:build_id>/events", build_events.unavailable, name="api-build-events"),
    path("api/builds/<int:build_id>/cancel/", builds_api.cancel, name="api-build-cancel"),
    path("api/builds/<int:build_id>/retry/", builds_api.retry, name="api-build-retry"),
    path("studio/trophies/<slug:slug>/preview/", studio_preview.trophy_preview, name="studio-trophy-preview"),
    path("studio/builds/", include("trophies.urls_studio_builds")),
    path("studio/", include("trophies.urls_studio")),
    # Storefront, image files, dashboards and monitoring endpoints.
    path("", include("trophies.urls_public")),
    path("", include("trophies.urls_dashboards")),
]
