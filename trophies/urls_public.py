"""Public URLs: the shop configurator, images, files and /metrics.
Included at the site root, so the paths are written out in full."""
from django.urls import path

from trophies.views import monitoring, storefront

urlpatterns = [
    path("t/<slug:slug>/", storefront.configurator, name="shop-trophy"),
    path("t/<slug:slug>/image", storefront.image, name="shop-image"),
    path("renders/<path:path>", storefront.render_file, name="render-file"),
    path("media/<path:path>", storefront.media_file, name="media-file"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("healthz", monitoring.healthz, name="healthz"),
]
