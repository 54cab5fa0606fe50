import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k2site.settings")
os.umask(0o077)  # files 0600, folders 0700 (the settings do it too)
application = get_wsgi_application()
