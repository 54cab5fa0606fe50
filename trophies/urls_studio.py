"""Studio pages of the catalog (included at ``studio/``)."""
from django.urls import path

from trophies.views import studio_archive, studio_publishing
from trophies.views import studio_catalog as views

urlpatterns = [
    path("", views.studio_home, name="studio-home"),
    path("parts/", views.parts, name="studio-parts"),
    path("parts/new/", views.component_edit, name="studio-component-new"),
    path("parts/<slug:key>/", views.component_edit, name="studio-component"),
    path("parts/<slug:key>/options/new/", views.option_edit, name="studio-option-new"),
    path("parts/<slug:key>/options/<slug:option_key>/", views.option_edit, name="studio-option"),
    path("parts/<slug:key>/options/<slug:option_key>/layer.png", views.option_layer, name="studio-option-layer"),
    path("uploads/<str:uid>/", views.upload_preview, name="studio-upload-preview"),
    path("trophies/", views.trophies, name="studio-trophies"),
    path("trophies/new/", views.trophy_edit, name="studio-trophy-new"),
    path("trophies/<slug:slug>/edit/", views.trophy_edit, name="studio-trophy-edit"),
    path("trophies/<slug:slug>/publish/", studio_publishing.publish, name="studio-trophy-publish"),
    path("export/", studio_archive.export, name="studio-export"),
    path("import/", studio_archive.import_page, name="studio-import"),
]
