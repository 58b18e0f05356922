"""URLs of the example Django project."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("about/", views.about, name="about"),
    path("items/<int:item_id>/", views.item, name="item"),
]
