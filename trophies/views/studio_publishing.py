"""Studio: publish or unpublish a trophy (a form on the trophy list)."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from trophies.models import Trophy
from trophies.services import publishing
from trophies.views.access import require, staff_page


@require_POST
@staff_page
def publish(request, slug):
    """POST published=1 (with confirm_unbuilt=1 for a never-built trophy) or published=0."""
    require(request, "trophies.publish_trophy")
    trophy = get_object_or_404(Trophy, slug=slug)
    if request.POST.get("published") not in ("0", "1"):
        messages.error(request, "Nothing changed: say published=1 (publish) or published=0 (unpublish).")
        return redirect("studio-trophies")
    wanted = request.POST["published"] == "1"
    try:
        changed = publishing.set_published(trophy, wanted, confirm_unbuilt=request.POST.get("confirm_unbuilt") == "1")
    except publishing.NeverBuilt as error:
        messages.error(request, str(error))
    else:
        state = "published: shoppers see it" if wanted else "a draft: only staff see it"
        messages.success(request, f"“{trophy.name}” is {'now ' if changed else ''}{state}.")
    return redirect("studio-trophies")
