"""Browser tests: Debian's Chromium driven by Playwright against live_server.

Playwright's own browser download does not work on these machines, so the
launch points at /usr/bin/chromium. With CI=true a missing browser fails.
"""
import os
import shutil

import pytest

CHROMIUM = os.environ.get("K2_CHROMIUM", "/usr/bin/chromium")
STAFF_PASSWORD = "staff-password-1"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        "staff", "staff@example.com", STAFF_PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_page(page, live_server, staff_user):
    """A Playwright page logged in as a staff user through the admin login form."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return page
