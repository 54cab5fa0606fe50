"""The site as one ASGI application (gunicorn with uvicorn workers, see
k2site/supervisor.py): build event streams go to their own coroutine-only
endpoint, build status polls are answered from the same feeds when they
can be (build_polls), everything else goes to Django's ASGI handler (sync
views run in threads, connections closed at each request's end as under
WSGI)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k2site.settings")
os.umask(0o077)  # files 0600, folders 0700 (the settings do it too)

from django.conf import settings  # noqa: E402

# Sync views run in a new thread per request under ASGI, so a persistent
# connection is never reused, only kept open until its age runs out: one
# more open connection per request (Django's docs: disable them under ASGI).
for database in settings.DATABASES.values():
    database["CONN_MAX_AGE"] = 0

django_application = get_asgi_application()  # sets Django up before the imports below

from trophies.views import build_events, build_polls  # noqa: E402


async def application(scope, receive, send):
    if scope["type"] == "http":
        if build_events.is_events_path(scope["path"]):
            return await build_events.app(scope, receive, send)
        if await build_polls.serve(scope, receive, send):
            return None
    return await django_application(scope, receive, send)
