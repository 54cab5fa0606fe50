"""``/api/schema/``: the OpenAPI document of the JSON API (public: it holds no data)."""
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from trophies import openapi


@require_GET
def schema(request):
    return JsonResponse(openapi.document(), content_type="application/vnd.oai.openapi+json")
