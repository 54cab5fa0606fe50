from django.shortcuts import render

from trophies.services.publishing import published_trophies


def home(request):
    # Drafts are previewed from the studio's trophy list, never listed here.
    return render(request, "trophies/home.html", {"trophies": published_trophies().order_by("name")})
