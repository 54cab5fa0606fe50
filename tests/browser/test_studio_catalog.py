"""The studio's Deform forms in Chromium: building a trophy by clicking,
validation messages, a layer upload with its thumbnail, CSRF."""
import re

import pytest
from playwright.sync_api import expect

from tests.forms_support import make_catalog, png_bytes
from trophies.models import Option, Trophy


@pytest.fixture
def parts(db):
    return make_catalog((("base", 3), ("figure", 4), ("plate", 2)))


def add_slot(tier, component):
    tier.get_by_text("Add slot").click()
    tier.locator(".k2-slot").last.locator("select.k2-slot-component").select_option(component)


def new_trophy_with_two_tiers(page, live_server, name, slug):
    """The new-trophy form, named, with two empty tiers; returns the tiers."""
    page.goto(live_server.url + "/studio/trophies/new/")
    expect(page.locator("#k2-live-count")).to_have_text("0 combinations")
    # The maintained jQuery we vendor, not the 2.0.3 Deform ships.
    assert page.evaluate("jQuery.fn.jquery") == "3.7.1"
    page.fill("input[name=name]", name)
    page.fill("input[name=slug]", slug)
    page.get_by_text("Add tier").click()
    page.get_by_text("Add tier").click()
    tiers = page.locator(".k2-tier")
    expect(tiers).to_have_count(2)
    return tiers


def test_build_a_trophy_of_two_tiers_by_clicking(staff_page, live_server, parts):
    page = staff_page
    tiers = new_trophy_with_two_tiers(page, live_server, "Gold Cup", "gold-cup")
    assert page.locator("script[src*='jquery-2.']").count() == 0
    add_slot(tiers.nth(0), "base")
    add_slot(tiers.nth(0), "plate")
    add_slot(tiers.nth(1), "figure")
    add_slot(tiers.nth(1), "figure")
    expect(page.locator("#k2-live-count")).to_have_text("3 x 2 x 4 x 4 = 96 combinations")
    # Choosing a component allows all its options; untick some.
    plate = tiers.nth(0).locator(".k2-slot").nth(1)
    expect(plate.locator(".k2-option-group[data-component=plate]")).to_be_visible()
    expect(plate.locator(".k2-option-group[data-component=base]")).to_be_hidden()
    expect(plate.locator("input[type=checkbox]")).to_have_count(2)  # copied from the page's library
    # A change of component swaps the group in: the options of the last one are gone.
    plate.locator("select.k2-slot-component").select_option("figure")
    expect(plate.locator("input[type=checkbox]")).to_have_count(4)
    plate.locator("select.k2-slot-component").select_option("plate")
    expect(plate.locator("input[type=checkbox]:checked")).to_have_count(2)
    plate.get_by_text("Plate 1").click()
    second_figure = tiers.nth(1).locator(".k2-slot").nth(1)
    second_figure.get_by_role("button", name="none").click()
    second_figure.get_by_text("Figure 2").click()
    second_figure.get_by_text("Figure 3").click()
    tiers.nth(0).locator("input[name=name]").fill("Bottom")
    expect(page.locator("#k2-live-count")).to_have_text("3 x 1 x 4 x 2 = 24 combinations")
    page.get_by_role("button", name="Save trophy").click()
    page.wait_for_url(live_server.url + "/studio/trophies/gold-cup/edit/")
    expect(page.locator(".k2-messages")).to_contain_text("Saved “Gold Cup”: 3 x 1 x 4 x 2 = 24 combinations.")
    expect(page.locator("#k2-live-count")).to_have_text("3 x 1 x 4 x 2 = 24 combinations")
    trophy = Trophy.objects.get(slug="gold-cup")
    assert [(s.tier.name, s.key, s.component.key) for s in trophy.ordered_slots()] == [
        ("Bottom", "base", "base"), ("Bottom", "plate", "plate"), ("", "figure", "figure"),
        ("", "figure-2", "figure"),
    ]
    assert [o.key for o in trophy.ordered_slots()[3].allowed_options()] == ["figure-2", "figure-3"]
    # Remove a slot in the edit form: the live count follows.
    tiers.nth(1).locator(".k2-slot").nth(1).locator(".deform-close-button").click()
    expect(page.locator("#k2-live-count")).to_have_text("3 x 1 x 4 = 12 combinations")
    page.goto(live_server.url + "/studio/trophies/")
    expect(page.locator("tr[data-slug=gold-cup] .k2-formula")).to_have_text("3 x 1 x 4 x 2 = 24 combinations")


def test_invalid_submission_shows_the_messages(staff_page, live_server, parts):
    page = staff_page
    page.goto(live_server.url + "/studio/trophies/new/")
    page.fill("input[name=name]", "Bad")
    page.fill("input[name=slug]", "bad slug")
    page.fill("input[name=width]", "5")
    page.get_by_text("Add tier").click()
    page.locator(".k2-tier").first.get_by_text("Add slot").click()
    page.locator(".k2-tier").first.get_by_text("Add slot").click()
    page.locator(".k2-slot").nth(1).locator("select.k2-slot-component").select_option("base")
    page.locator(".k2-slot").nth(1).get_by_role("button", name="none").click()
    page.get_by_role("button", name="Save trophy").click()
    expect(page.locator(".alert-danger")).to_contain_text("There was a problem with your submission")
    expect(page.locator(".item-slug .invalid-feedback")).to_have_text("Use only letters, digits, hyphens and underscores.")
    expect(page.locator(".item-width .invalid-feedback")).to_have_text("5 is less than minimum value 16")
    expect(page.locator(".k2-slot").nth(0).locator(".item-component .invalid-feedback")).to_have_text("Choose a component.")
    expect(page.get_by_text("Allow at least one option.")).to_be_visible()
    # What was typed is still there.
    expect(page.locator("input[name=slug]")).to_have_value("bad slug")
    expect(page.locator(".k2-slot")).to_have_count(2)
    assert not Trophy.objects.exists()


def test_upload_a_layer_and_see_its_thumbnail(staff_page, live_server, parts):
    page = staff_page
    page.goto(live_server.url + "/studio/parts/")
    page.locator("#component-figure").get_by_role("link", name="Add option").click()
    page.fill("input[name=label]", "Silver runner")
    page.fill("input[name=key]", "silver-runner")
    page.set_input_files("input[type=file][name=upload]",
                         files=[{"name": "runner.png", "mimeType": "image/png", "buffer": png_bytes(size=(40, 60))}])
    page.get_by_role("button", name="Add option").click()
    page.wait_for_url(live_server.url + "/studio/parts/figure/")
    expect(page.locator(".k2-messages")).to_contain_text("Saved option “Silver runner” of Figure.")
    thumb = page.get_by_role("img", name="Silver runner")
    expect(thumb).to_be_visible()
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 40
    assert Option.objects.get(key="silver-runner").layer.name.endswith(".png")


def test_a_refused_upload_says_why(staff_page, live_server, parts):
    page = staff_page
    page.goto(live_server.url + "/studio/parts/figure/options/new/")
    page.fill("input[name=label]", "Broken")
    page.fill("input[name=key]", "broken")
    page.set_input_files("input[type=file][name=upload]",
                         files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}])
    page.get_by_role("button", name="Add option").click()
    expect(page.get_by_text(re.compile("Not accepted as a layer: the file is not a picture this site can read"))).to_be_visible()
    expect(page.locator("input[name=label]")).to_have_value("Broken")


def test_a_post_without_the_csrf_token_is_refused(staff_page, live_server, parts):
    page = staff_page
    page.goto(live_server.url + "/studio/trophies/new/")
    page.fill("input[name=name]", "Sneaky")
    page.fill("input[name=slug]", "sneaky")
    page.evaluate("document.querySelector('#deform input[name=csrfmiddlewaretoken]').remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Save trophy").click()
    assert refused.value.status == 403
    expect(page.get_by_text("CSRF verification failed")).to_be_visible()
    response = page.request.post(live_server.url + "/studio/trophies/new/", form={"name": "x", "slug": "x"})
    assert response.status == 403
    assert not Trophy.objects.exists()


def test_option_key_follows_the_label(staff_page, live_server, parts):
    page = staff_page
    page.goto(live_server.url + "/studio/parts/figure/options/new/")
    page.fill("input[name=label]", "Gold Runner 2")
    expect(page.locator("input[name=key]")).to_have_value("gold-runner-2")


def drag(page, handle, target):
    """Drag ``handle`` onto the top part of ``target`` with real mouse events (jquery-sortable)."""
    start, end = handle.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(start["x"] + start["width"] / 2,
                        start["y"] + (end["y"] + end["height"] / 3 - start["y"]) * step / 10)
    page.mouse.up()


def test_reorder_tiers_by_dragging(staff_page, live_server, parts):
    """Deform's orderable sequence (jquery-sortable) on jQuery 3."""
    page = staff_page
    page.set_viewport_size({"width": 1280, "height": 2400})
    tiers = new_trophy_with_two_tiers(page, live_server, "Order Cup", "order-cup")
    tiers.nth(0).locator("input[name=name]").fill("Bottom")
    tiers.nth(1).locator("input[name=name]").fill("Top")
    add_slot(tiers.nth(0), "base")
    add_slot(tiers.nth(1), "figure")
    drag(page, tiers.nth(1).locator(":scope > .col-md-2 > .deform-order-button"), tiers.nth(0))
    expect(tiers.nth(0).locator("input[name=name]").first).to_have_value("Top")
    page.get_by_role("button", name="Save trophy").click()
    page.wait_for_url(live_server.url + "/studio/trophies/order-cup/edit/")
    trophy = Trophy.objects.get(slug="order-cup")
    assert [(s.tier.name, s.component.key) for s in trophy.ordered_slots()] == [("Top", "figure"), ("Bottom", "base")]
