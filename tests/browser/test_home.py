from playwright.sync_api import expect


def test_home_page_links_studio_admin_and_starter(page, live_server, db):
    from trophies.services.demo import create_demo_catalog

    create_demo_catalog()
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="K2 Trophy Builder")).to_be_visible()
    expect(page.get_by_role("link", name="Studio", exact=True)).to_have_attribute("href", "/studio/")
    expect(page.locator("a[href='/admin/']").first).to_be_visible()
    expect(page.locator("a[href='/t/starter/']")).to_be_visible()


def test_staff_logs_in_through_admin(staff_page, live_server):
    expect(staff_page.locator("#site-name")).to_be_visible()
    expect(staff_page.get_by_text("Trophies").first).to_be_visible()
    staff_page.goto(live_server.url + "/")
    expect(staff_page.get_by_role("button", name="Log out staff")).to_be_visible()
