"""Studio: render a random sample of a trophy's combinations at once."""
import secrets

from django.shortcuts import get_object_or_404, render

from trophies.models import Trophy
from trophies.services import plans
from trophies.services.preview import MAX_SAMPLES, preview
from trophies.views.access import staff_page


def _int(value, default, low, high):
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


@staff_page
def trophy_preview(request, slug):
    trophy = get_object_or_404(Trophy, slug=slug)
    plan = plans.capture(trophy)
    count = _int(request.GET.get("n"), 12, 1, MAX_SAMPLES)
    seed = _int(request.GET.get("seed"), None, 0, 2**31)
    if seed is None:  # a new sample each time; the seed in the URL repeats it
        seed = secrets.randbelow(2**31)
    return render(request, "trophies/preview.html", {
        "trophy": trophy, "samples": preview(plan, count, seed), "count": count, "seed": seed,
        "formula": plan.describe(), "max_samples": MAX_SAMPLES,
    })
