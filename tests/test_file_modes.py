"""The data dir is 0700 and its files 0600 from the first write: the SQLite
database holds sessions and password hashes, the secret key signs them, and
Redis' append-only file holds cached sessions. Started from nothing, as
`make setup` does, in processes whose caller left the usual umask 022."""
import os
import stat
import subprocess
import sys

import pytest
import redis

from k2site import env, redis_server
from tests.conftest import ROOT, wait_until


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def loose_umask():
    os.umask(0o022)


def fresh_environment(data_dir):
    environment = dict(os.environ, K2_DATA_DIR=str(data_dir))
    for name in ("DATABASE_URL", "DJANGO_SECRET_KEY", "K2_LOCK_DIR", "K2_ADMIN_PASSWORD"):
        environment.pop(name, None)
    return environment


def manage(data_dir, *arguments):
    result = subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=fresh_environment(data_dir),
                            preexec_fn=loose_umask, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_start_up_from_nothing_leaves_only_private_files(tmp_path):
    data = tmp_path / "var"
    manage(data, "migrate", "--noinput", "-v", "0")
    assert "password:" in manage(data, "k2", "admin").stdout
    assert mode(data) == 0o700
    assert mode(data / "k2.sqlite3") == 0o600
    assert mode(data / "secret_key") == 0o600
    for path in data.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, path


def test_an_existing_open_data_dir_is_tightened_and_its_content_kept(tmp_path):
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "notes.txt").write_text("staff's")
    manage(data, "check")
    assert mode(data) == 0o700
    assert (data / "notes.txt").read_text() == "staff's"


def test_the_secret_key_is_never_readable_by_others(tmp_path, monkeypatch):
    seen = []
    real_open = os.open

    def opened(path, flags, *args, **kwargs):  # the file's mode the moment it exists, before any write
        descriptor = real_open(path, flags, *args, **kwargs)
        seen.append(stat.S_IMODE(os.fstat(descriptor).st_mode))
        return descriptor

    monkeypatch.setattr(os, "open", opened)
    previous = os.umask(0o022)
    try:
        key = env.secret_key(tmp_path / "data", {})
    finally:
        os.umask(previous)
    assert key and seen == [0o600] and mode(tmp_path / "data" / "secret_key") == 0o600


def test_embedded_redis_writes_its_append_only_file_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        process, url = redis_server.start(tmp_path / "redis", persist=True)
    finally:
        os.umask(previous)
    try:
        client = redis.Redis.from_url(url)
        client.set("k2:probe", "1")
        aof = tmp_path / "redis" / "appendonly.aof"
        wait_until(lambda: aof.exists() and aof.stat().st_size > 0, timeout=10, message="the append-only file")
        assert mode(aof) == 0o600
        assert mode(tmp_path / "redis") == 0o700
        client.close()
    finally:
        redis_server.stop(process)


@pytest.mark.parametrize("unit", sorted((ROOT / "deploy" / "systemd").glob("*.service")), ids=lambda p: p.name)
def test_every_systemd_unit_sets_a_private_umask(unit):
    assert "\nUMask=0077\n" in unit.read_text()
