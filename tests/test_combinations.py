import json
import random

import pytest

from trophies import combinations
from trophies.models import Trophy
from trophies.services import plans
from trophies.services.demo import create_demo_catalog


def test_round_trip_every_index_of_a_small_radix_set():
    radices = [2, 3, 4]
    seen = set()
    for index in range(combinations.count(radices)):
        digits = combinations.digits_of(index, radices)
        assert combinations.index_of(digits, radices) == index
        seen.add(tuple(digits))
    assert len(seen) == 24


def test_last_slot_changes_fastest():
    assert combinations.digits_of(0, [3, 4]) == [0, 0]
    assert combinations.digits_of(1, [3, 4]) == [0, 1]
    assert combinations.digits_of(4, [3, 4]) == [1, 0]


@pytest.mark.parametrize("index", [-1, 24])
def test_index_out_of_range_is_refused(index):
    with pytest.raises(IndexError, match="outside 0..23"):
        combinations.digits_of(index, [2, 3, 4])


def test_bad_digits_are_refused():
    with pytest.raises(IndexError):
        combinations.index_of([0, 3], [2, 3])
    with pytest.raises(ValueError, match="expected 2 choices"):
        combinations.index_of([0], [2, 3])


def test_describe_shows_factors_and_total():
    assert combinations.describe([3, 30, 5, 15, 19]) == "3 x 30 x 5 x 15 x 19 = 128,250 combinations"
    assert combinations.describe([1]) == "1 combination"
    assert combinations.describe([]) == "0 combinations"


@pytest.fixture
def demo_plans(db):
    create_demo_catalog()
    return {t.slug: plans.capture(t) for t in Trophy.objects.all()}


def chosen_of(plan, index):
    return {slot.key: option.key for slot, option in plan.choices(plan.digits_of(index))}


def test_starter_round_trips_every_index(demo_plans):
    starter = demo_plans["starter"]
    assert starter.total == 12
    picks = set()
    for index in range(12):
        chosen = chosen_of(starter, index)
        assert starter.index_for(chosen) == index
        picks.add(tuple(chosen.items()))
    assert len(picks) == 12


def test_classic_round_trips_random_indexes(demo_plans):
    classic = demo_plans["classic"]
    assert [s.key for s in classic.slots] == ["base", "figure", "color", "plate", "engraving"]
    assert classic.total == 128_250
    rng = random.Random(7)
    for index in [0, 128_249] + [rng.randrange(128_250) for _ in range(300)]:
        assert classic.index_for(chosen_of(classic, index)) == index


def test_a_plan_survives_its_json_unchanged(demo_plans):
    for plan in demo_plans.values():
        again = plans.Plan.from_json(json.loads(json.dumps(plan.to_json())))
        assert again == plan and again.name_tokens == plan.name_tokens


def test_unknown_choices_name_the_problem(demo_plans):
    starter = demo_plans["starter"]
    with pytest.raises(KeyError, match="unknown slot 'hat'"):
        starter.index_for({"hat": "00", "base": "00", "figure": "00", "plate": "00"})
    with pytest.raises(KeyError, match="unknown option '09' for slot 'figure'"):
        starter.index_for({"base": "00", "figure": "09", "plate": "00"})
    with pytest.raises(KeyError, match="no option chosen for slot 'plate'"):
        starter.index_for({"base": "00", "figure": "00"})


@pytest.mark.parametrize("radices", [[2, 3, 4], [3, 30, 5, 15, 19], [5], [1, 7, 1]])
def test_digits_used_by_a_range_are_exactly_those_of_its_combinations(radices):
    total = combinations.count(radices)
    rng = random.Random(sum(radices))
    ranges = [(0, total), (0, 1), (total - 1, total)] + [
        sorted(rng.sample(range(total + 1), 2)) for _ in range(40)]
    for start, stop in ranges:
        if start == stop:
            continue
        expected = [set() for _ in radices]
        for index in range(start, stop):
            for position, digit in enumerate(combinations.digits_of(index, radices)):
                expected[position].add(digit)
        assert combinations.digits_used(radices, start, stop) == [sorted(s) for s in expected]
