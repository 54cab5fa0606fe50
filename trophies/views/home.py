from django.shortcuts import render

from trophies.models import Trophy


def home(request):
    return render(request, "trophies/home.html", {"trophies": Trophy.objects.order_by("name")})
