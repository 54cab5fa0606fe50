"""The trophy form: saving, the appstruct round trip, and each validation rule
(re-rendered with messages, status 200, nothing saved)."""
import html

import pytest
from django.test import Client

from tests.conftest import studio_group
from tests.forms_support import make_catalog, post_controls, slot, trophy_controls
from trophies.models import Trophy
from trophies.services import plans
from trophies.services.catalog import trophy_appstruct

NEW = "/studio/trophies/new/"


@pytest.fixture
def parts(db):
    return make_catalog()


@pytest.fixture
def client(staff_client):
    return staff_client


def two_tiers(parts):
    return [
        ("Bottom", [slot("base", parts["base"]), slot("plate", parts["plate"][:1], key="plate", x=5, y=-3)]),
        ("Top", [slot("figure", parts["figure"][:3]), slot("figure", parts["figure"][1:])]),
    ]


def text_of(response):
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_save_new_trophy_with_two_tiers(client, parts, encoding):
    response = post_controls(client, NEW, trophy_controls("Gold Cup", "gold-cup", two_tiers(parts)), encoding)
    assert response.status_code == 302, text_of(response)[:2000]
    assert response["Location"] == "/studio/trophies/gold-cup/edit/"
    trophy = Trophy.objects.get(slug="gold-cup")
    slots = trophy.ordered_slots()
    assert [(s.tier.name, s.tier.position, s.position, s.key, s.component.key, s.x, s.y) for s in slots] == [
        ("Bottom", 0, 0, "base", "base", 0, 0),
        ("Bottom", 0, 1, "plate", "plate", 5, -3),
        ("Top", 1, 0, "figure", "figure", 0, 0),
        ("Top", 1, 1, "figure-2", "figure", 0, 0),
    ]
    assert plans.capture(trophy).radices == [3, 1, 3, 3]
    page = client.get(response["Location"])
    assert "Saved “Gold Cup”: 3 x 1 x 3 x 3 = 27 combinations. It is a draft" in text_of(page)
    assert not trophy.published


def test_trophy_list_shows_the_count(client, parts):
    post_controls(client, NEW, trophy_controls("Gold Cup", "gold-cup", two_tiers(parts)))
    page = client.get("/studio/trophies/")
    assert page.status_code == 200
    assert "3 x 1 x 3 x 3 = 27 combinations" in text_of(page)


def test_edit_form_is_filled_from_the_saved_trophy(client, parts):
    post_controls(client, NEW, trophy_controls("Gold Cup", "gold-cup", two_tiers(parts)))
    trophy = Trophy.objects.get(slug="gold-cup")
    before = trophy_appstruct(trophy)
    page = text_of(client.get("/studio/trophies/gold-cup/edit/"))
    assert 'value="Gold Cup"' in page and 'value="figure-2"' in page and 'value="-3"' in page
    # Post the form back as it was shown: same trophy.
    tiers = [
        (tier["name"], [slot(s["component"], s["options"], s["key"], s["x"], s["y"]) for s in tier["slots"]])
        for tier in before["tiers"]
    ]
    response = post_controls(client, "/studio/trophies/gold-cup/edit/",
                             trophy_controls("Gold Cup", "gold-cup", tiers), "multipart")
    assert response.status_code == 302
    assert trophy_appstruct(Trophy.objects.get(slug="gold-cup")) == before


def test_reorder_and_remove_on_edit(client, parts):
    post_controls(client, NEW, trophy_controls("Gold Cup", "gold-cup", two_tiers(parts)))
    tiers = [("Top first", [slot("figure", parts["figure"])]), ("", [slot("base", parts["base"][:2])])]
    response = post_controls(client, "/studio/trophies/gold-cup/edit/", trophy_controls("Gold Cup", "gold-cup", tiers))
    assert response.status_code == 302
    trophy = Trophy.objects.get(slug="gold-cup")
    assert [(s.tier.name, s.key) for s in trophy.ordered_slots()] == [("Top first", "figure"), ("", "base")]
    assert plans.capture(trophy).total == 8


def test_unknown_trophy_is_404(client, parts):
    assert client.get("/studio/trophies/nope/edit/").status_code == 404


def assert_refused(response, *messages, trophies_before=0):
    """Shown again with the messages, and nothing saved: the new-trophy tests
    start with no trophy (or ``trophies_before``)."""
    assert response.status_code == 200, response.status_code
    page = text_of(response)
    assert "There was a problem with your submission" in page
    for message in messages:
        assert message in page, message
    assert Trophy.objects.count() == trophies_before


def test_duplicate_slug(client, parts):
    Trophy.objects.create(slug="cup", name="Old")
    response = post_controls(client, NEW, trophy_controls("New", "cup", [[slot("base", parts["base"])]]))
    assert_refused(response, "The slug cup is taken by another trophy.", trophies_before=1)
    assert Trophy.objects.get(slug="cup").name == "Old"


@pytest.mark.parametrize("bad", ["has space", "ümlaut", "", "a/b"])
def test_malformed_slug(client, parts, bad):
    response = post_controls(client, NEW, trophy_controls("New", bad, [[slot("base", parts["base"])]]))
    assert response.status_code == 200
    assert Trophy.objects.count() == 0
    assert "Use only letters, digits, hyphens and underscores." in text_of(response) or "Required" in text_of(response)


def test_slot_with_no_options(client, parts):
    response = post_controls(client, NEW, trophy_controls(tiers=[[slot("base", parts["base"]), slot("plate", [])]]))
    assert_refused(response, "Allow at least one option.")
    assert Trophy.objects.count() == 0


def test_option_of_another_component(client, parts):
    response = post_controls(client, NEW, trophy_controls(tiers=[[slot("base", parts["base"][:1] + parts["plate"][:1])]]))
    assert_refused(response, "Not options of the component base: plate/plate-0.")
    assert Trophy.objects.count() == 0


def test_option_that_does_not_exist(client, parts):
    response = post_controls(client, NEW, trophy_controls(tiers=[[slot("base", ["999999"])]]))
    assert_refused(response, "999999 (no such option)")


def test_unknown_component(client, parts):
    response = post_controls(client, NEW, trophy_controls(tiers=[[slot("wheel", parts["base"])]]))
    assert_refused(response, "Unknown component wheel")


def test_no_component_chosen(client, parts):
    response = post_controls(client, NEW, trophy_controls(tiers=[[slot("", [])]]))
    assert_refused(response, "Choose a component.")


def test_duplicate_slot_key(client, parts):
    tiers = [[slot("base", parts["base"], key="main")], [slot("plate", parts["plate"], key="main")]]
    response = post_controls(client, NEW, trophy_controls(tiers=tiers))
    assert_refused(response, "The key main is already used by slot 1 of tier 1.")


@pytest.mark.parametrize("width,height,message", [
    (15, 500, "15 is less than minimum value 16"),
    (400, 4001, "4001 is greater than maximum value 4000"),
    ("wide", 500, '"wide" is not a number'),
    ("", 500, "Required"),
])
def test_canvas_out_of_range_or_wrong_type(client, parts, width, height, message):
    response = post_controls(client, NEW, trophy_controls(tiers=[[slot("base", parts["base"])]], width=width,
                                                          height=height))
    assert_refused(response, message)
    assert Trophy.objects.count() == 0


def test_unknown_format(client, parts):
    response = post_controls(client, NEW, trophy_controls(tiers=[[slot("base", parts["base"])]], fmt="GIF"))
    assert_refused(response, '"GIF" is not one of JPEG, PNG, WEBP')


def test_trophy_without_slots(client, parts):
    response = post_controls(client, NEW, trophy_controls(tiers=[[]]))
    assert_refused(response, "A trophy needs at least one tier with one slot.")


def test_too_many_combinations_gives_the_count(client, parts, settings):
    settings.K2_MAX_COMBINATIONS = 20
    tiers = [[slot("base", parts["base"]), slot("figure", parts["figure"]), slot("plate", parts["plate"])]]
    response = post_controls(client, NEW, trophy_controls(tiers=tiers))
    assert_refused(response, "Too many combinations: 3 x 4 x 2 = 24 combinations; the limit is 20.")
    assert Trophy.objects.count() == 0


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_missing_end_marker(client, parts, encoding):
    controls = trophy_controls(tiers=[[slot("base", parts["base"])]])
    controls = [c for c in controls if c != ("__end__", "slot:mapping")]
    response = post_controls(client, NEW, controls, encoding)
    assert_refused(response, "The submission is malformed (Not enough end markers); nothing was saved.")


def test_too_many_end_markers(client, parts):
    controls = trophy_controls(tiers=[[slot("base", parts["base"])]]) + [("__end__", "x:mapping")]
    assert_refused(post_controls(client, NEW, controls), "The submission is malformed")


def test_unknown_start_marker(client, parts):
    controls = [("__start__", "x:teapot")] + trophy_controls(tiers=[[slot("base", parts["base"])]])
    assert_refused(post_controls(client, NEW, controls), "Unknown start marker")


def test_unknown_fields(client, parts):
    controls = trophy_controls(tiers=[[slot("base", parts["base"])]])
    position = controls.index(("__end__", "slot:mapping"))
    controls[position:position] = [("price", "0")]
    controls.insert(2, ("is_admin", "1"))
    response = post_controls(client, NEW, controls)
    assert_refused(response, "The submission has fields this form does not have: is_admin, tiers.0.slots.0.price.")
    assert Trophy.objects.count() == 0


def test_wrong_structure_types(client, parts):
    # "tiers" sent as a plain value, a slot's options as a mapping.
    controls = [("name", "Cup"), ("slug", "cup"), ("width", "400"), ("height", "500"), ("format", "PNG"),
                ("tiers", "all of them")]
    assert_refused(post_controls(client, NEW, controls))
    controls = trophy_controls(tiers=[[slot("base", parts["base"])]])
    controls = [("__start__", "options:mapping") if c == ("__start__", "options:sequence") else
                ("__end__", "options:mapping") if c == ("__end__", "options:sequence") else c for c in controls]
    assert_refused(post_controls(client, NEW, controls))
    assert Trophy.objects.count() == 0


def test_unreadable_body_is_shown_again_not_500(client, parts):
    response = client.generic("POST", NEW, b"name=%ff", content_type="application/x-www-form-urlencoded")
    assert_refused(response, "The submission could not be read: the form data is not valid UTF-8.")
    response = client.generic("POST", NEW, b'{"name": 1}', content_type="application/json")
    assert_refused(response, "unsupported content type")


def test_truncated_multipart_is_400(client, parts):
    from tests.forms_support import multipart

    body, content_type = multipart(trophy_controls(tiers=[[slot("base", parts["base"])]]))
    response = client.generic("POST", NEW, body[: len(body) // 2], content_type=content_type)
    assert response.status_code == 400


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_post_without_csrf_token_is_403(db, parts, django_user_model, encoding):
    user = django_user_model.objects.create_user("staff2", "s@example.com", "pw", is_staff=True)
    user.groups.add(studio_group())
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(NEW)
    token = client.cookies["csrftoken"].value
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    controls = trophy_controls(tiers=[[slot("base", parts["base"])]])
    assert post_controls(client, NEW, controls, encoding).status_code == 403
    assert post_controls(client, NEW, [("csrfmiddlewaretoken", "x" * 64)] + controls, encoding).status_code == 403
    # With the token of the page (the form's hidden field) it goes through.
    response = post_controls(client, NEW, [("csrfmiddlewaretoken", token)] + controls, encoding)
    assert response.status_code == 302
    assert Client(enforce_csrf_checks=True).post(NEW, {}).status_code == 403  # anonymous too


def test_pages_need_staff(db, parts):
    for url in ["/studio/", "/studio/parts/", "/studio/trophies/", NEW]:
        response = Client().get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_pages_render_with_deform_resources(client, parts):
    page = text_of(client.get(NEW))
    for resource in ["/static/deform/scripts/deform.js", "/static/k2/vendor/jquery-3.7.1.min.js",
                     "/static/deform/css/form.css", "/static/deform/scripts/jquery-sortable.js"]:
        assert resource in page, resource
    assert "jquery-2." not in page  # Deform's own jQuery 2.0.3 (known vulnerabilities) is never loaded
    # jQuery comes before everything that uses it
    assert page.index("jquery-3.7.1.min.js") < page.index("deform.js") < page.index("jquery-sortable.js")
    for url in ["/studio/", "/studio/parts/", "/studio/trophies/"]:
        assert client.get(url).status_code == 200
