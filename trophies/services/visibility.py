"""Who sees a trophy on the shop side (configurator, on-demand images,
rendered files): anyone when it is published, only staff (a preview) when
it is a draft, nobody once it is deleted.

The published slugs are read once per catalog revision (saving a trophy
bumps it), so a picture request still costs no query.
"""
from trophies.services import revision
from trophies.services.publishing import published_trophies

_cached = (None, frozenset())  # (catalog revision, published slugs)


def published_slugs():
    global _cached
    seen = revision.current()
    if seen is not None and _cached[0] == seen:
        return _cached[1]
    slugs = frozenset(published_trophies().values_list("slug", flat=True))
    if seen is not None:
        _cached = (seen, slugs)
    return slugs


def is_published(slug):
    return slug in published_slugs()


def may_preview(request):
    """Staff see drafts. (Read only when needed: reading the user costs a
    session lookup and makes the response vary by cookie.)"""
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def may_see(request, slug):
    """(visible, public): whether this request may see the trophy's shop
    side, and whether that answer may be cached for everyone."""
    if is_published(slug):
        return True, True
    return may_preview(request), False
