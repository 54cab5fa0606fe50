"""JSON API for scripts: the catalog (staff session required), drafts
included and marked ``published: false``."""
from django.http import Http404, JsonResponse

from trophies.models import Trophy
from trophies.services import plans, visibility
from trophies.views.access import staff_json


@staff_json
def trophy_list(request):
    trophies = list(Trophy.objects.order_by("slug"))
    current = plans.current_of(trophies)
    return JsonResponse([{"slug": t.slug, "name": t.name, "combinations": current[t.pk].total,
                          "published": t.published} for t in trophies], safe=False)


@staff_json
def trophy_detail(request, slug):
    plan = plans.current(slug)
    if plan is None:
        raise Http404("no such trophy")
    return JsonResponse(
        {
            "slug": plan.slug,
            "name": plan.name,
            "combinations": plan.total,
            "published": visibility.is_published(plan.slug),
            "width": plan.width,
            "height": plan.height,
            "format": plan.format,
            "slots": [
                {"key": slot.key, "component": slot.component, "options": [o.key for o in slot.options]}
                for slot in plan.slots
            ],
        }
    )
