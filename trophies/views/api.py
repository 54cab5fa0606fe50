"""JSON API for scripts: the catalog (staff session required)."""
from django.http import JsonResponse
from django.shortcuts import get_object_or_404

from trophies.models import Trophy
from trophies.views.access import staff_json


@staff_json
def trophy_list(request):
    trophies = Trophy.objects.order_by("slug")
    return JsonResponse(
        [{"slug": t.slug, "name": t.name, "combinations": t.combinations} for t in trophies], safe=False
    )


@staff_json
def trophy_detail(request, slug):
    trophy = get_object_or_404(Trophy, slug=slug)
    slots = trophy.ordered_slots()
    options = trophy.slot_options(slots)
    return JsonResponse(
        {
            "slug": trophy.slug,
            "name": trophy.name,
            "combinations": trophy.combinations,
            "width": trophy.width,
            "height": trophy.height,
            "format": trophy.format,
            "slots": [
                {"key": slot.key, "component": slot.component.key, "options": [o.key for o in opts]}
                for slot, opts in zip(slots, options)
            ],
        }
    )
