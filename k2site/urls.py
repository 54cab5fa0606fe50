from django.contrib import admin
from django.urls import include, path

from k2site import rq_dashboard

urlpatterns = [
    path("admin/", admin.site.urls),
    path("django-rq/", include((rq_dashboard.urlpatterns(), "django_rq"))),
    path("", include("locks.urls")),
    path("", include("trophies.urls")),
]

handler404 = "trophies.views.errors.page_not_found"
