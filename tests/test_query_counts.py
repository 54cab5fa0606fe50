"""Hot pages cost a fixed number of queries, whatever the number of trophies
and builds: plans come from the per-revision cache, settled builds' counts
from their rows."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trophies.models import Build, Slot, Tier, Trophy
from trophies.services.demo import create_demo_catalog

PAGES = ["/studio/builds/", "/studio/trophies/", "/api/trophies/", "/studio/"]


def add_trophies(count, start):
    classic = Trophy.objects.get(slug="classic")
    for number in range(start, start + count):
        trophy = Trophy.objects.create(slug=f"extra-{number}", name=f"Extra {number}")
        tier = Tier.objects.create(trophy=trophy)
        for position, slot in enumerate(classic.ordered_slots()[:3]):
            copy = Slot.objects.create(tier=tier, key=slot.key, component=slot.component, position=position)
            copy.options.set(slot.allowed_options()[:2])
        Build.objects.create(trophy=trophy, total=8, chunk_size=8, state=Build.DONE, rendered=8, skipped=0, failed=0)


def warm_query_counts(client):
    counts = {}
    for url in PAGES:
        assert client.get(url).status_code == 200, url  # fills the plan cache
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts[url] = len(queries)
    return counts


@pytest.mark.django_db
def test_list_pages_cost_the_same_queries_for_2_and_9_trophies(staff_client):
    create_demo_catalog()
    Build.objects.create(trophy=Trophy.objects.get(slug="starter"), total=12, chunk_size=12, state=Build.DONE,
                         rendered=12, skipped=0, failed=0)
    few = warm_query_counts(staff_client)
    add_trophies(7, 0)
    many = warm_query_counts(staff_client)
    assert many == few
    assert all(count <= 12 for count in many.values()), many
