"""A Django project's ``wsgi.py`` that wraps ``get_wsgi_application()`` in middleware.

Django's own middleware runs inside Django; these layers run around it, at the WSGI level, and
so also cover what Django never sees (static files here).  Serve it with either server::

    waitress-serve --no-clear-untrusted-proxy-headers examples.django_wsgi:application
    gunicorn --workers 2 --forwarded-allow-ips= examples.django_wsgi:application

The flags leave the proxy headers to ProxyFix: waitress otherwise deletes ``X-Forwarded-*``
before the app sees them, and gunicorn otherwise applies ``X-Forwarded-Proto`` itself (see
docs/middlewares/proxy_fix.rst, "Servers that read the headers themselves").  The access lines
go to standard error, the server's log.

To wrap your own project, change ``DJANGO_SETTINGS_MODULE`` to your settings module.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path

from django.core.wsgi import get_wsgi_application

from middlewares.compress import Compress
from middlewares.proxy_fix import ProxyFix
from middlewares.request_log import RequestLogger
from middlewares.stack import stack
from middlewares.static import StaticFiles

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.djangosite.settings")  # yours here

STATIC_ROOT = Path(__file__).resolve().parent / "static"  # `manage.py collectstatic` output

# RequestLogger logs through `logging` (logger "middlewares.access"); without a handler nothing
# would be printed.  In your project, Django's LOGGING setting can do this instead.
logging.basicConfig(level=logging.INFO, format="%(message)s")

application = stack(
    get_wsgi_application(),
    partial(ProxyFix, x_for=1, x_proto=1, trusted=["127.0.0.1", "::1"]),
    RequestLogger,
    partial(Compress, min_size=200),
    partial(StaticFiles, directories={"/static": STATIC_ROOT}, max_age=3600),
)
