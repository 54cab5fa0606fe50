from django.urls import path

from trophies.views import api, home

urlpatterns = [
    path("", home.home, name="home"),
    path("api/trophies/", api.trophy_list, name="api-trophies"),
    path("api/trophies/<slug:slug>/", api.trophy_detail, name="api-trophy"),
]
