"""Build pages (included at ``studio/builds/``)."""
from django.urls import path

from trophies.views import studio_builds as views

urlpatterns = [
    path("", views.build_list, name="studio-builds"),
    path("start/<slug:slug>/", views.start, name="studio-build-start"),
    path("<int:build_id>/", views.build_page, name="studio-build"),
]
