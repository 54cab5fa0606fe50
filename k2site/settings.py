"""Django settings for K2 Trophy Builder, all from the environment.

The variables and their defaults are the contract table in the README.
"""
import os
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path

import dj_database_url

from k2site import logging as k2_logging, static_files
from k2site.env import (env_bool, env_int, env_list, env_path, env_str, parse_bind, private_data_dir,
                        private_files, proxy_header, secret_key)

# Every process that loads the settings (web, workers, commands) creates its
# files 0600 and folders 0700: README "Security".
private_files()

BASE_DIR = Path(__file__).resolve().parent.parent

K2_DATA_DIR = private_data_dir(env_path("K2_DATA_DIR", BASE_DIR / "var"))
K2_LOCK_DIR = env_path("K2_LOCK_DIR", K2_DATA_DIR / "locks")
K2_RENDER_DIR = K2_DATA_DIR / "renders"
K2_WORKERS = env_int("K2_WORKERS", os.cpu_count() or 1, minimum=1)
K2_BIND = parse_bind(env_str("K2_BIND", "127.0.0.1:8000"))
K2_MAX_COMBINATIONS = env_int("K2_MAX_COMBINATIONS", 5_000_000, minimum=1)
K2_METRICS_TOKEN = env_str("K2_METRICS_TOKEN", "") or None
# The header the reverse proxy puts the client's address in (X-Real-IP with
# deploy/nginx/k2.conf); unset: REMOTE_ADDR alone, and proxied requests are
# never loopback (locks/access.py).
K2_PROXY_HEADER = proxy_header("K2_PROXY_HEADER")
K2_STALL_AFTER_S = env_int("K2_STALL_AFTER_S", 60, minimum=1)
# Renders and layer files nothing current names are pruned once this old (pages may still link them).
K2_PRUNE_AFTER_S = env_int("K2_PRUNE_AFTER_S", 86400, minimum=0)
# The embedded Redis that `make run` (and the tests) start listens on this socket.
K2_EMBEDDED_REDIS_SOCKET = K2_DATA_DIR / "redis" / "redis.sock"
REDIS_URL = env_str("REDIS_URL", "") or f"unix://{K2_EMBEDDED_REDIS_SOCKET}"

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = secret_key(K2_DATA_DIR)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "axes",
    "locks",
    "trophies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "k2site.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "trophies.views.errors.csrf_failure"  # JSON for the API
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind TLS (the nginx site in deploy/): cookies only over HTTPS, HSTS, and
# the proxy's header saying the request came in over HTTPS.
K2_HTTPS = env_bool("K2_HTTPS", False)
if K2_HTTPS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

ROOT_URLCONF = "k2site.urls"
WSGI_APPLICATION = "k2site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_config(url):
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": K2_DATA_DIR / "k2.sqlite3"}
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # The web server and several workers write at once: WAL lets readers
        # run beside the writer, the busy timeout makes writers queue.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # A file, not memory, so worker processes started by tests share it.
        config["TEST"] = {"NAME": K2_DATA_DIR / "test.sqlite3"}
    return config


DATABASES = {"default": database_config(env_str("DATABASE_URL", ""))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}

# Sessions read through the Redis cache: a staff page polling progress every
# second costs no session query.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

RQ_QUEUES = {
    "render": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
}
RQ = {"WORKER_CLASS": "trophies.workers.RenderWorker"}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"  # the studio's login too: one login form for staff

# Failed logins (django-axes): after K2_LOGIN_FAILURES failures for one user
# name, or from one client address (locks/access.py client_address, which
# reads K2_PROXY_HEADER behind a proxy), that user or address is refused,
# even with the right password, until K2_LOGIN_LOCKOUT_S have passed without
# another try. `k2 admin` clears the lockout of admin; `manage.py
# axes_reset_username NAME` / `axes_reset_ip ADDRESS` clear others.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("K2_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("K2_LOGIN_LOCKOUT_S", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "locks.access.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every command; lockouts are still logged

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = K2_DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "k2site.static_files.VersionedStaticStorage"},
}
WHITENOISE_ADD_HEADERS_FUNCTION = static_files.add_cache_headers
# Without collectstatic (tests, runserver) WhiteNoise finds files through the finders.
WHITENOISE_USE_FINDERS = True
# Deform's own CSS/JS are served by staticfiles under /static/deform/.
STATICFILES_DIRS = [BASE_DIR / "static", ("deform", Path(find_spec("deform").origin).parent / "static")]
MEDIA_URL = "/media/"
MEDIA_ROOT = K2_DATA_DIR / "media"
RENDER_URL = "/renders/"

# Deform posts every form as multipart; bound what one request may carry.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20_000

LOGGING = k2_logging.config(
    destination=env_str("K2_LOG", "console"),
    ident=env_str("K2_LOG_IDENT", "") or k2_logging.process_ident(),
    debug=env_bool("K2_DEBUG", False),
    syslog_address=env_str("K2_SYSLOG_ADDRESS", "/dev/log"),
)
