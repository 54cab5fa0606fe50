"""django-rq's queue admin for superusers only: its views empty queues and
delete or requeue jobs, and django-rq checks no more than is_staff. Both
faces are restricted: ``/django-rq/`` and the admin's "Django-RQ" dashboard
(``/admin/django_rq/dashboard/``)."""
from django.contrib import admin
from django.urls import include
from django_rq import models as rq_models
from django_rq.admin import QueueAdmin

from k2site import rq_dashboard
from trophies.views.access import superuser_only


def _restricted(patterns):
    for pattern in patterns:
        pattern.callback = superuser_only(pattern.callback)
    return patterns


def urls():
    """What ``include("django_rq.urls")`` gave, every view superuser-only
    (the JSON stats and metrics too: the site has its own /metrics), and
    an index or worker that does not exist a 404 (rq_dashboard)."""
    return include((_restricted(rq_dashboard.urlpatterns()), "django_rq"))


class SuperuserQueueAdmin(QueueAdmin):
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def get_urls(self):
        return _restricted(rq_dashboard.guard_patterns(super().get_urls()))


def restrict_admin(site=admin.site):
    if site.is_registered(rq_models.Dashboard):
        site.unregister(rq_models.Dashboard)
        site.register(rq_models.Dashboard, SuperuserQueueAdmin)
