from django.urls import path

from trophies.views import api, builds_api, home

urlpatterns = [
    path("", home.home, name="home"),
    path("api/trophies/", api.trophy_list, name="api-trophies"),
    path("api/trophies/<slug:slug>/", api.trophy_detail, name="api-trophy"),
    path("api/trophies/<slug:slug>/builds/", builds_api.start, name="api-build-start"),
    path("api/builds/<int:build_id>/", builds_api.detail, name="api-build"),
    path("api/builds/<int:build_id>/cancel/", builds_api.cancel, name="api-build-cancel"),
    path("api/builds/<int:build_id>/retry/", builds_api.retry, name="api-build-retry"),
]
