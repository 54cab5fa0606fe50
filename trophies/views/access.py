"""Who may see and do what.

Seeing the studio, its dashboards and the JSON API needs an active staff
account: pages send others to the login page, JSON answers 403 in JSON.
Doing something (editing the catalog, importing, starting, cancelling or
retrying builds, publishing) also needs Django's permission for it:
``require`` raises PermissionDenied with a message naming what is missing,
which trophies.views.errors.permission_denied shows as a 403 page, or as
``{"error": ...}`` under /api/.
"""
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

# What each permission lets staff do, in the words of a refusal.
ACTIONS = {
    "trophies.add_component": "add parts",
    "trophies.change_component": "change parts",
    "trophies.add_option": "add options",
    "trophies.change_option": "change options",
    "trophies.add_trophy": "add trophies",
    "trophies.change_trophy": "change trophies",
    "trophies.publish_trophy": "publish or unpublish trophies",
    "trophies.start_build": "start builds",
    "trophies.cancel_build": "cancel builds",
    "trophies.retry_build": "retry builds",
}
# An import may create and change parts, options and trophies.
IMPORT_PERMISSIONS = ("trophies.add_component", "trophies.change_component", "trophies.add_option",
                      "trophies.change_option", "trophies.add_trophy", "trophies.change_trophy")


def is_staff(user):
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def require(request, *permissions):
    """Raise PermissionDenied unless the user holds every permission."""
    missing = [name for name in permissions if not request.user.has_perm(name)]
    if missing:
        what = ", ".join(ACTIONS.get(name, name) for name in missing)
        raise PermissionDenied(f"Your account may not {what} (missing permission: {', '.join(missing)}). "
                               "An administrator can add you to the “K2 studio” group.")


def staff_json(view):
    """JSON endpoints: 403 with a JSON reason instead of a login redirect."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_staff(request.user):
            return JsonResponse({"error": "staff login required"}, status=403)
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def staff_page(view):
    return never_cache(staff_member_required(view))


def superuser_only(view):
    """The django-rq queue admin: it clears queues and deletes jobs behind
    every permission, so only superusers get it."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied("The queue admin (django-rq) is for superusers only; "
                                   "the studio's Queues page shows the same figures.")
        return view(request, *args, **kwargs)

    return never_cache(staff_member_required(wrapper))
