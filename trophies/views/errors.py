"""Site-wide error pages: the JSON API answers its 403s, 404s and CSRF
refusals in JSON, like its other errors."""
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views import csrf, defaults


def page_not_found(request, exception):
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    # Our own Http404 messages ("no such trophy") are for clients; a
    # resolver's (the URL patterns tried) is not.
    message = exception.args[0] if type(exception) is Http404 and exception.args else "not found"
    return JsonResponse({"error": message if isinstance(message, str) else "not found"}, status=404)


def permission_denied(request, exception):
    """A refused permission (trophies.views.access.require) says what is missing."""
    message = str(exception) if isinstance(exception, PermissionDenied) and str(exception) else "forbidden"
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message}, status=403)
    return defaults.permission_denied(request, exception)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: scripts get the reason in JSON, browsers Django's page."""
    if not request.path.startswith("/api/"):
        return csrf.csrf_failure(request, reason)
    return JsonResponse({"error": f"CSRF check failed: {reason}; send the csrftoken cookie's value in X-CSRFToken"},
                        status=403)
