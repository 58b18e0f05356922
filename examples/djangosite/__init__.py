"""A minimal Django project (``examples.djangosite.wsgi:application``)."""
