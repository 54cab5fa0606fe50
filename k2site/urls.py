from django.contrib import admin
from django.urls import include, path

from k2site import queue_admin

queue_admin.restrict_admin()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("django-rq/", queue_admin.urls()),
    path("", include("locks.urls")),
    path("", include("trophies.urls")),
]

handler403 = "trophies.views.errors.permission_denied"
handler404 = "trophies.views.errors.page_not_found"
