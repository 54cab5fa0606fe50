"""Included at the site root, so the paths are written out in full."""
from django.urls import path

from locks import views

app_name = "locks"
urlpatterns = [
    path("locks/", views.dashboard, name="dashboard"),
    path("locks/stats.txt", views.stats_txt, name="stats-txt"),
    path("api/locks/", views.api_locks, name="api"),
]
