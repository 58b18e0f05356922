"""The example Django project as a WSGI application (``examples.djangosite.wsgi:application``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.djangosite.settings")

application = get_wsgi_application()
