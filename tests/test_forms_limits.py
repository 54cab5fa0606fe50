"""Limits of the trophy form against big posts: tiers, slots per tier and
slots in all (trophies.trophy_limits), refused with a message and shown
again cut to the limits, never whole; each slot renders only its own
component's options; slot keys are filled in linear time."""
import html
import time
from urllib.parse import urlencode

import pytest

from tests.forms_support import make_catalog, post_controls, slot, trophy_controls
from trophies.forms.schemas import fill_slot_keys
from trophies.models import Slot, Tier, Trophy
from trophies.trophy_limits import MAX_SLOTS, MAX_SLOTS_PER_TIER, MAX_TIERS

NEW = "/studio/trophies/new/"


@pytest.fixture
def parts(db):
    return make_catalog((("base", 15), ("figure", 30), ("plate", 15), ("trim", 12)))


@pytest.fixture
def client(staff_client):
    return staff_client


def attackers_post(parts, tiers=135, slots_per_tier=20):
    """Like the post that took 3.9 s and answered 84 MB: thousands of
    one-option slots without keys (so every key is filled in), no offsets."""
    figures = parts["figure"]
    tier_list = [[slot("figure", [figures[(t + s) % len(figures)]]) for s in range(slots_per_tier)]
                 for t in range(tiers)]
    return [control for control in trophy_controls("Big", "big", tier_list) if control[0] not in ("x", "y")]


def shown(response):
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def nothing_created():
    return (Trophy.objects.count(), Tier.objects.count(), Slot.objects.count()) == (0, 0, 0)


def test_the_attackers_post_is_refused_quickly_with_a_small_answer(client, parts):
    controls = attackers_post(parts)
    body = urlencode(controls).encode()
    assert len(body) > 350_000 and len(controls) < 20_000  # under the parser's own limits
    response = post_controls(client, NEW, controls)
    page = shown(response)
    assert f"The trophy has 135 tiers; the limit is {MAX_TIERS}." in page
    assert "Nothing was saved; the form shows what fits within the limits." in page
    assert nothing_created()
    # Shown again cut to the limits: 40 slots, each with the figure options only.
    assert page.count('class="k2-option-picker') == MAX_SLOTS
    assert len(response.content) < 1_500_000, len(response.content)  # it was 77 MB


def test_too_many_slots_in_one_tier(client, parts):
    tiers = [[slot("base", parts["base"][:1], key=f"s{n}") for n in range(MAX_SLOTS_PER_TIER + 1)]]
    page = shown(post_controls(client, NEW, trophy_controls(tiers=tiers)))
    assert f"Tier 1 has 21 slots; the limit is {MAX_SLOTS_PER_TIER} per tier." in page
    assert page.count('class="k2-option-picker') == MAX_SLOTS_PER_TIER
    assert 'value="s19"' in page and 'value="s20"' not in page
    assert nothing_created()


def test_too_many_slots_in_all(client, parts):
    tiers = [[slot("base", parts["base"][:1], key=f"t{t}s{n}") for n in range(14)] for t in range(3)]
    page = shown(post_controls(client, NEW, trophy_controls(tiers=tiers)))
    assert f"The trophy has 42 slots; the limit is {MAX_SLOTS} in all." in page
    assert page.count('class="k2-option-picker') == MAX_SLOTS
    assert nothing_created()


def test_a_trophy_at_every_limit_is_saved(client, parts):
    tiers = [[slot("base", parts["base"][:1]) for _ in range(MAX_SLOTS_PER_TIER)] for _ in range(2)]
    tiers += [[] for _ in range(MAX_TIERS - 2)]
    response = post_controls(client, NEW, trophy_controls(slug="full", tiers=tiers))
    assert response.status_code == 302, shown(response)[:2000]
    trophy = Trophy.objects.get(slug="full")
    assert len(trophy.ordered_slots()) == MAX_SLOTS and trophy.tiers.count() == MAX_TIERS


def test_each_slot_renders_only_its_components_options(client, parts):
    tiers = [[slot("base", parts["base"][:2]), slot("plate", parts["plate"][:1])]]
    assert post_controls(client, NEW, trophy_controls(slug="two", tiers=tiers)).status_code == 302
    page = shown(client.get("/studio/trophies/two/edit/"))
    form, library = page.split('<template id="k2-option-library">')
    assert form.count('name="checkbox"') == len(parts["base"]) + len(parts["plate"])
    assert form.count('data-component="base"') == 1 and form.count('data-component="plate"') == 1
    assert 'data-component="figure"' not in form and 'data-component="trim"' not in form
    # The page holds every group once, for the script to copy on a change of component.
    assert library.count('name="checkbox"') == sum(map(len, parts.values()))
    # Sequence widgets stop adding at the limits.
    assert f'max_len="{MAX_TIERS}"' in form and f'max_len="{MAX_SLOTS_PER_TIER}"' in form


def test_filling_slot_keys_is_linear():
    def trophy(slots):
        return {"tiers": [{"slots": [{"component": "figure", "key": ""} for _ in range(slots)]}]}

    small = trophy(2_000)
    started = time.perf_counter()
    fill_slot_keys(small)
    small_s = time.perf_counter() - started
    big = trophy(20_000)
    started = time.perf_counter()
    fill_slot_keys(big)
    big_s = time.perf_counter() - started
    keys = [s["key"] for s in big["tiers"][0]["slots"]]
    assert keys[:3] == ["figure", "figure-2", "figure-3"] and len(set(keys)) == 20_000
    # Quadratic filling would take 100 times as long for 10 times the slots.
    assert big_s < 30 * max(small_s, 0.001), (small_s, big_s)


def test_filled_keys_skip_keys_slots_already_have():
    value = {"tiers": [{"slots": [{"component": "figure", "key": ""}, {"component": "figure", "key": "figure-2"},
                                  {"component": "figure", "key": ""}, {"component": "base", "key": "figure-4"},
                                  {"component": "figure", "key": ""}]}]}
    fill_slot_keys(value)
    assert [s["key"] for s in value["tiers"][0]["slots"]] == ["figure", "figure-2", "figure-3", "figure-4", "figure-5"]
