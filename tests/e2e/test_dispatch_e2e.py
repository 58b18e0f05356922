"""Dispatcher on a real server: a real Flask app and a real Django project in one process.

Each framework builds its links from ``SCRIPT_NAME`` (Flask's ``url_for``, Django's ``reverse``
and ``build_absolute_uri``), so the links on every page must carry the prefix the app is
mounted under, through a nested dispatcher too, and none when a host routes to the app.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from middlewares.dispatch import Dispatcher
from tests.e2e.servers import serve

pytestmark = pytest.mark.e2e

FLASK = "examples.flaskapp.app:app"
DJANGO = "examples.djangosite.wsgi:application"
DJANGO_HOST = "django.example.test"
TIMEOUT = 10


@functools.cache
def _application() -> Dispatcher:
    return Dispatcher(
        mounts={
            "/flask": FLASK,
            "/django": DJANGO,
            "/sites": Dispatcher(mounts={"/shop": FLASK, "/blog": DJANGO}),
        },
        hosts={DJANGO_HOST: DJANGO},
    )


def __getattr__(name: str) -> Any:
    # The server imports "tests.e2e.test_dispatch_e2e:application"; building it on first use
    # keeps Flask and Django (and Django's settings) out of the pytest process that collects
    # this module (PEP 562 module __getattr__).
    if name == "application":
        return _application()
    raise AttributeError(name)


@pytest.fixture(scope="module", params=["waitress", "gunicorn"])
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    env = {"DJANGO_ALLOWED_HOSTS": f"127.0.0.1,localhost,{DJANGO_HOST}"}
    with serve(
        "tests.e2e.test_dispatch_e2e:application", server=request.param, workers=1, env=env
    ) as url:
        yield url


def links(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        pytest.param(
            "/flask/", ["/flask/about", "/flask/items/7", "{base}/flask/about"], id="flask"
        ),
        pytest.param(
            "/django/", ["/django/about/", "/django/items/7/", "{base}/django/about/"], id="django"
        ),
        pytest.param(
            "/sites/shop/",
            ["/sites/shop/about", "/sites/shop/items/7", "{base}/sites/shop/about"],
            id="nested-flask",
        ),
        pytest.param(
            "/sites/blog/",
            ["/sites/blog/about/", "/sites/blog/items/7/", "{base}/sites/blog/about/"],
            id="nested-django",
        ),
    ],
)
def test_generated_links_carry_the_mount_prefix(
    base_url: str, page: str, expected: list[str]
) -> None:
    response = requests.get(base_url + page, timeout=TIMEOUT)
    assert response.status_code == 200
    assert links(response.text) == [link.format(base=base_url) for link in expected]
    for link in links(response.text)[:2]:  # the relative links lead to real pages
        followed = requests.get(base_url + link, timeout=TIMEOUT)
        assert followed.status_code == 200
        assert links(followed.text)[-1] == page  # each page links home, prefix included


def test_mount_without_trailing_slash_reaches_the_app_root(base_url: str) -> None:
    # PATH_INFO is "" here: Django treats it as "/", Flask redirects to the slash form.
    response = requests.get(base_url + "/django", timeout=TIMEOUT)
    assert response.status_code == 200
    assert "/django/about/" in links(response.text)
    response = requests.get(base_url + "/flask", timeout=TIMEOUT, allow_redirects=False)
    assert response.status_code in (301, 308)
    assert response.headers["Location"].endswith("/flask/")


def test_host_routes_to_django_without_a_prefix(base_url: str) -> None:
    port = base_url.rsplit(":", 1)[1]
    host = f"{DJANGO_HOST}:{port}"
    response = requests.get(base_url + "/", headers={"Host": host}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert links(response.text) == ["/about/", "/items/7/", f"http://{host}/about/"]


def test_unmatched_path_is_a_plain_404(base_url: str) -> None:
    response = requests.get(base_url + "/nothing/here", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.text == "Not Found\n"
