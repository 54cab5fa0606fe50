"""Headers for a site behind TLS: CSP on every page, no framing, and what K2_HTTPS turns on."""
import json
import os
import subprocess
import sys

import pytest

from k2site import security
from tests.conftest import ROOT


@pytest.mark.parametrize("url", ["/", "/t/starter/", "/admin/login/", "/studio/"])
def test_every_page_has_a_policy_and_refuses_framing(client, db, url):
    from trophies.services.demo import create_demo_catalog

    create_demo_catalog()
    response = client.get(url)
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    scripts = next(part for part in policy.split("; ") if part.startswith("script-src"))
    # Inline scripts only where Deform's widgets need them.
    assert ("'unsafe-inline'" in scripts) == url.startswith(security.INLINE_SCRIPT_PATHS)


def test_a_view_with_its_own_policy_keeps_it(staff_client):
    response = staff_client.get("/studio/uploads/NOSUCHUPLOAD/")
    assert response.status_code == 404
    assert security.policy_for("/studio/x") != security.policy_for("/t/x")


def settings_in_a_fresh_process(**environ):
    """Settings as a process started with these variables loads them."""
    code = ("import json, k2site.settings as s; print(json.dumps({name: getattr(s, name, None) for name in "
            "['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_PROXY_SSL_HEADER']}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={**os.environ, **environ})
    return json.loads(result.stdout)


def test_k2_https_turns_on_secure_cookies_hsts_and_the_proxy_header():
    assert settings_in_a_fresh_process(K2_HTTPS="1") == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}
    assert settings_in_a_fresh_process(K2_HTTPS="0") == {
        "SESSION_COOKIE_SECURE": None, "CSRF_COOKIE_SECURE": None, "SECURE_HSTS_SECONDS": None,
        "SECURE_PROXY_SSL_HEADER": None}


def test_hsts_and_https_detection_through_the_proxy_header(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    over_tls = client.get("/", HTTP_X_FORWARDED_PROTO="https")
    assert over_tls["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/")
