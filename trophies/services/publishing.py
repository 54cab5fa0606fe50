"""Publishing: a trophy is a draft (staff only) until staff publish it.

A trophy that never finished a build would show shoppers pictures rendered
one at a time on demand (or none at all), so publishing it needs an explicit
confirmation. Saving the trophy bumps the catalog revision, so every web
process sees the change at once (trophies.services.visibility).
"""
from trophies.models import Build, Trophy


class NeverBuilt(Exception):
    """Publishing a trophy that has no finished build, unconfirmed."""

    def __init__(self, trophy):
        super().__init__(f"“{trophy.name}” has never finished a build: shoppers would wait for every picture "
                         "to be rendered on demand. Build it first, or confirm publishing it unbuilt. "
                         "It stays a draft.")
        self.trophy = trophy


def built_trophy_ids():
    """Ids of the trophies with at least one build in state done."""
    return set(Build.objects.filter(state=Build.DONE).values_list("trophy_id", flat=True).distinct())


def has_finished_build(trophy):
    return trophy.builds.filter(state=Build.DONE).exists()


def set_published(trophy, published, confirm_unbuilt=False):
    """Publish or unpublish ``trophy``; True when that changed it. Raises
    NeverBuilt (nothing changes) when publishing a never-built trophy without
    ``confirm_unbuilt``."""
    if trophy.published == published:
        return False
    if published and not confirm_unbuilt and not has_finished_build(trophy):
        raise NeverBuilt(trophy)
    trophy.published = published
    trophy.save(update_fields=["published", "updated_at"])
    return True


def published_trophies():
    return Trophy.objects.filter(published=True)
