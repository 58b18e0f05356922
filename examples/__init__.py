"""Runnable examples; importable from the project root (``examples.flaskapp.app:app``)."""
