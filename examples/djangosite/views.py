"""Views that build every link with ``reverse`` and ``request.build_absolute_uri``.

Mounted under a prefix, the links carry it: Django sets its script prefix from ``SCRIPT_NAME``
on each request, and ``reverse`` starts every URL with it.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join


def page(title: str, links: list[tuple[str, str]]) -> HttpResponse:
    items = format_html_join("", '<li><a href="{}">{}</a></li>', ((h, t) for t, h in links))
    return HttpResponse(
        format_html("<!doctype html><title>{0}</title><h1>{0}</h1><ul>{1}</ul>", title, items)
    )


def index(request: HttpRequest) -> HttpResponse:
    return page(
        "Django home",
        [
            ("About", reverse("about")),
            ("Item 7", reverse("item", args=[7])),
            ("About (absolute)", request.build_absolute_uri(reverse("about"))),
        ],
    )


def about(request: HttpRequest) -> HttpResponse:
    return page("About Django", [("Home", reverse("index"))])


def item(request: HttpRequest, item_id: int) -> HttpResponse:
    return page(f"Item {item_id}", [("Home", reverse("index"))])
