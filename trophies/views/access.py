"""Who may see what: staff pages send people to the login page, staff JSON
answers 403 in JSON."""
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def staff_json(view):
    """JSON endpoints: 403 with a JSON reason instead of a login redirect."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return JsonResponse({"error": "staff login required"}, status=403)
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def staff_page(view):
    return never_cache(staff_member_required(view))
