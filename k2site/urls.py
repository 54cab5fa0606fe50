from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("", include("locks.urls")),
    path("", include("trophies.urls")),
]

handler404 = "trophies.views.errors.page_not_found"
