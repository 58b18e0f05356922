"""The end-to-end harness itself: a stacked app answers through waitress and gunicorn."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.servers import serve

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_stacked_app_answers_through_a_real_server(server: str) -> None:
    with serve("tests.e2e.apps:stacked_hello", server=server) as base_url:
        response = requests.get(base_url + "/", timeout=10)
    assert response.status_code == 200
    assert response.content == b"Hello, world!"
