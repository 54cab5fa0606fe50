import pytest
from django.core.exceptions import ImproperlyConfigured

from k2site import env
from k2site.settings import database_config


def test_integers_accept_thousand_separators_and_refuse_words():
    assert env.env_int("N", 5, {"N": "5,000,000"}) == 5_000_000
    assert env.env_int("N", 7, {}) == 7
    with pytest.raises(ImproperlyConfigured, match="K2_WORKERS must be a whole number, not 'many'"):
        env.env_int("K2_WORKERS", 1, {"K2_WORKERS": "many"})
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.env_int("K2_WORKERS", 1, {"K2_WORKERS": "0"}, minimum=1)


def test_booleans():
    assert env.env_bool("D", False, {"D": "yes"}) is True
    assert env.env_bool("D", True, {"D": "0"}) is False
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG must be true or false"):
        env.env_bool("DJANGO_DEBUG", False, {"DJANGO_DEBUG": "maybe"})


def test_bind_and_hosts():
    assert env.parse_bind("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert env.parse_bind("8001") == ("127.0.0.1", 8001)
    with pytest.raises(ImproperlyConfigured, match="K2_BIND must be host:port"):
        env.parse_bind("localhost:http")
    with pytest.raises(ImproperlyConfigured, match="1-65535"):
        env.parse_bind("localhost:70000")
    assert env.env_list("H", ["a"], {"H": "x.com, y.com,"}) == ["x.com", "y.com"]


def test_database_url_switches_engine():
    sqlite = database_config("")
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in sqlite["OPTIONS"]["init_command"] and sqlite["OPTIONS"]["timeout"] > 0
    pg = database_config("postgres://k2:pw@db.example:5433/k2prod")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["HOST"], pg["PORT"], pg["NAME"], pg["USER"]) == ("db.example", 5433, "k2prod", "k2")


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = env.secret_key(tmp_path, {})
    assert len(first) > 40
    assert env.secret_key(tmp_path, {}) == first
    assert env.secret_key(tmp_path, {"DJANGO_SECRET_KEY": "given"}) == "given"


def test_running_settings_come_from_the_environment():
    # The test session exports these before settings load (tests/services_plugin.py);
    # read the module itself, since fixtures override some values per test.
    import os

    from k2site import settings as loaded

    assert str(loaded.K2_DATA_DIR) == os.environ["K2_DATA_DIR"]
    assert loaded.REDIS_URL == os.environ["REDIS_URL"]
    assert loaded.K2_LOCK_DIR == loaded.K2_DATA_DIR / "locks"
    assert loaded.K2_WORKERS == int(os.environ["K2_WORKERS"])


def test_proxy_header_names_one_known_header_or_none():
    assert env.proxy_header("K2_PROXY_HEADER", {}) is None
    assert env.proxy_header("K2_PROXY_HEADER", {"K2_PROXY_HEADER": "none"}) is None
    assert env.proxy_header("K2_PROXY_HEADER", {"K2_PROXY_HEADER": "x-real-ip"}) == "X-Real-IP"
    assert env.proxy_header("K2_PROXY_HEADER", {"K2_PROXY_HEADER": "Forwarded"}) == "Forwarded"
    with pytest.raises(ImproperlyConfigured, match="K2_PROXY_HEADER must be one of X-Forwarded-For, X-Real-IP, "
                                                   "Forwarded or none, not 'X-Client'"):
        env.proxy_header("K2_PROXY_HEADER", {"K2_PROXY_HEADER": "X-Client"})
