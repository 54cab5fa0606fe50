"""The lock dashboard shows a lock a live process holds and drops it when
that process is killed."""
import os
import signal
import subprocess
import sys

from playwright.sync_api import expect

from tests.conftest import ROOT, child_environment

HOLDER = """
import os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k2site.settings")
django.setup()
from locks import exclusive
with exclusive("browser-test:held", timeout=5, owner="lock dashboard test"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_lock_table_shows_a_held_lock_and_drops_it_when_the_holder_dies(staff_page, live_server, data_dir):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=ROOT, env=child_environment(data_dir),
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        staff_page.goto(f"{live_server.url}/locks/")
        row = staff_page.locator("#locks-exclusive tbody tr", has_text="browser-test:held")
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(1)).to_have_text(str(holder.pid))
        expect(row).to_contain_text("lock dashboard test")
        if os.environ.get("K2_SCREENSHOTS"):
            staff_page.screenshot(path=f"{os.environ['K2_SCREENSHOTS']}/locks.png", full_page=True)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        # The page refreshes itself every 2 s; the kernel dropped the lock with the process.
        expect(row).to_have_count(0, timeout=10_000)
        expect(staff_page.locator("#locks-exclusive tbody")).to_contain_text("none")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
