"""A small Flask app (``examples.flaskapp.app:app``)."""
