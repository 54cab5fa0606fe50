"""Every saved or deleted catalog row, and every change to the options a
slot allows, bumps the catalog revision: cached plans are then read anew.

Bumped at once, so the writing transaction's own later reads see its change,
and again after commit, so no other process can cache the old rows under the
new revision. (QuerySet.update() and bulk operations send no signals: code
that uses them on catalog models must call revision.bump itself.)
"""
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from trophies.models import Component, Option, Slot, Tier, Trophy
from trophies.services import revision


def catalog_changed(sender, **kwargs):
    if kwargs.get("action", "post_").startswith("pre_"):
        return
    revision.bump()
    transaction.on_commit(revision.bump)


def connect():
    for model in (Component, Option, Trophy, Tier, Slot):
        post_save.connect(catalog_changed, sender=model, dispatch_uid=f"k2-revision-save-{model.__name__}")
        post_delete.connect(catalog_changed, sender=model, dispatch_uid=f"k2-revision-delete-{model.__name__}")
    m2m_changed.connect(catalog_changed, sender=Slot.options.through, dispatch_uid="k2-revision-slot-options")
