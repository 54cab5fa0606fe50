"""Property: whatever controls reach the trophy form's POST (random names and
values, unbalanced markers, truncated valid submissions, files where text
belongs), the answer is never a server error."""
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import studio_group
from tests.forms_support import make_catalog, multipart, slot, trophy_controls, urlencoded

NEW = "/studio/trophies/new/"
NAMES = ["name", "slug", "width", "height", "format", "tiers", "tier", "slots", "slot", "component", "key",
         "options", "checkbox", "x", "y", "save", "__start__", "__end__", "__formid__", "_charset_", "upload",
         "uid", "junk", ""]
MARKERS = [f"{name}:{kind}" for name in ["tiers", "tier", "slots", "slot", "options", "x", ""]
           for kind in ["sequence", "mapping", "rename", "ignore", "teapot"]]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


def values(option_ids):
    return st.one_of(
        TEXT,
        st.sampled_from(MARKERS),
        st.sampled_from(["base", "figure", "plate", "PNG", "JPEG", "GIF", "cup", "0", "-1", "16", "4001"]),
        st.sampled_from(option_ids),
        st.integers(min_value=-10**12, max_value=10**12).map(str),
    )


@pytest.fixture
def setup(db, django_user_model):
    parts = make_catalog()
    user = django_user_model.objects.create_user("staff", "s@example.com", "pw-staff-1", is_staff=True)
    user.groups.add(studio_group())
    client = Client()
    client.force_login(user)
    option_ids = [str(o.pk) for options in parts.values() for o in options] + ["999999"]
    valid = trophy_controls("Cup", "cup", [
        ("Bottom", [slot("base", parts["base"]), slot("plate", parts["plate"][:1])]),
        ("Top", [slot("figure", parts["figure"])]),
    ])
    return client, option_ids, valid


def post(client, controls, encoding):
    if encoding == "multipart":
        body, content_type = multipart(controls)
    else:
        body, content_type = urlencoded(controls).encode(), "application/x-www-form-urlencoded"
    return client.generic("POST", NEW, body, content_type=content_type)


HYPOTHESIS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HYPOTHESIS
@given(data=st.data(), encoding=st.sampled_from(["urlencoded", "multipart"]))
def test_random_controls_never_500(setup, data, encoding):
    client, option_ids, _ = setup
    value = values(option_ids)
    if encoding == "multipart":
        value = st.one_of(value, st.just(("f.png", b"\x89PNG junk", "image/png")))
    controls = data.draw(st.lists(st.tuples(st.sampled_from(NAMES), value), max_size=40))
    response = post(client, controls, encoding)
    assert response.status_code in (200, 302), response.status_code


@HYPOTHESIS
@given(data=st.data(), encoding=st.sampled_from(["urlencoded", "multipart"]))
def test_truncated_and_mutated_valid_submissions_never_500(setup, data, encoding):
    client, option_ids, valid = setup
    cut = data.draw(st.integers(min_value=0, max_value=len(valid)))
    controls = list(valid[:cut])
    for _ in range(data.draw(st.integers(min_value=0, max_value=3))):
        if not controls:
            break
        position = data.draw(st.integers(min_value=0, max_value=len(controls) - 1))
        action = data.draw(st.sampled_from(["drop", "duplicate", "rename", "revalue", "swap"]))
        name, value = controls[position]
        if action == "drop":
            del controls[position]
        elif action == "duplicate":
            controls.insert(position, (name, value))
        elif action == "rename":
            controls[position] = (data.draw(st.sampled_from(NAMES)), value)
        elif action == "revalue":
            controls[position] = (name, data.draw(values(option_ids)))
        else:
            other = data.draw(st.integers(min_value=0, max_value=len(controls) - 1))
            controls[position], controls[other] = controls[other], controls[position]
    response = post(client, controls, encoding)
    assert response.status_code in (200, 302), response.status_code
