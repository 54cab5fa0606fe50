"""The shop configurator swaps the picture in the page when a choice changes."""
import os
from pathlib import Path

from playwright.sync_api import expect

from trophies.models import Trophy
from trophies.services import plans, storefront
from trophies.services.demo import create_demo_catalog

SHOTS = os.environ.get("K2_SCREENSHOTS")


def url_of(plan, chosen):
    _, digits, layout = storefront.locate(plan, chosen)
    return layout.url(digits)


def chosen_of(plan, index):
    return {slot.key: option.key for slot, option in plan.choices(plan.digits_of(index))}


def loaded(page):
    return page.wait_for_function(
        "() => { const i = document.getElementById('k2-picture'); return i.complete && i.naturalWidth === 400; }")


def pick(page, slot, option):
    """A shopper clicks the option's picture."""
    page.click(f"label.k2-shop-option:has(input[name={slot}][value='{option}']) img")


def test_clicking_an_option_picture_swaps_to_the_precomputed_image_url(page, live_server, db):
    create_demo_catalog()
    starter = plans.capture(Trophy.objects.get(slug="starter"))
    for index in range(starter.total):
        storefront.ensure_image(starter, chosen_of(starter, index))
    page.goto(f"{live_server.url}/t/starter/")
    picture = page.locator("#k2-picture")
    expect(picture).to_have_attribute("src", url_of(starter, {"base": "00", "figure": "00", "plate": "00"}))
    loaded(page)
    pick(page, "figure", "02")
    expect(picture).to_have_attribute("src", url_of(starter, {"base": "00", "figure": "02", "plate": "00"}))
    loaded(page)
    pick(page, "plate", "01")
    pick(page, "base", "01")
    expect(picture).to_have_attribute("src", url_of(starter, {"base": "01", "figure": "02", "plate": "01"}))
    loaded(page)
    assert page.url.endswith("?base=01&figure=02&plate=01")
    # The page's JS names every image exactly like the server's layout.
    for index in range(starter.total):
        chosen = chosen_of(starter, index)
        _, digits, _ = storefront.locate(starter, chosen)
        js = page.evaluate("(digits) => K2Configurator.imageUrl("
                           "JSON.parse(document.getElementById('k2-configurator-data').textContent), digits)", digits)
        assert js == url_of(starter, chosen)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/configurator.png", full_page=True)


def test_a_picture_not_built_yet_is_rendered_on_demand(page, live_server, db, settings):
    create_demo_catalog()
    starter = plans.capture(Trophy.objects.get(slug="starter"))
    page.goto(f"{live_server.url}/t/starter/")
    loaded(page)
    pick(page, "figure", "01")
    loaded(page)
    _, digits, layout = storefront.locate(starter, {"base": "00", "figure": "01", "plate": "00"})
    assert Path(layout.path(digits)).is_file()
    expect(page.locator("#k2-picture-status")).to_have_text("")


def test_js_paths_for_fewer_slots_match_relative_path(page, live_server, db):
    from trophies.services.renders import relative_path

    page.goto(f"{live_server.url}/t/none/")  # any page; the helper is tested alone
    page.add_script_tag(url=f"{live_server.url}/static/k2/configurator.js")
    for tokens in (["a"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d", "e"]):
        js = page.evaluate("(t) => K2Configurator.relativePath('s', t, '.jpg', 2)", tokens)
        assert js == relative_path("s", tokens, ".jpg")


def test_options_are_pictures_a_shopper_can_pick_by_keyboard(page, live_server, db):
    create_demo_catalog()
    starter = plans.capture(Trophy.objects.get(slug="starter"))
    page.goto(f"{live_server.url}/t/starter/")
    loaded(page)
    thumbnails = page.locator("label.k2-shop-option img")
    assert thumbnails.count() == 2 + 3 + 2
    page.wait_for_function("() => [...document.querySelectorAll('label.k2-shop-option img')]"
                           ".every((i) => i.complete && i.naturalWidth === 64)")
    page.focus("input[name=figure][value='00']")
    page.keyboard.press("ArrowRight")  # radio groups move the choice with the arrow keys
    expect(page.locator("input[name=figure][value='01']")).to_be_checked()
    expect(page.locator("fieldset[data-slot='1'] .k2-shop-chosen")).to_have_text("Figure 2")
    loaded(page)  # not built yet: rendered on demand, then shown
    assert page.url.endswith("?base=00&figure=01&plate=00")
    _, digits, layout = storefront.locate(starter, {"base": "00", "figure": "01", "plate": "00"})
    assert Path(layout.path(digits)).is_file()
