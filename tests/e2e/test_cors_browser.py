"""CORS in a real browser: headless Chromium fetch()es an API on another 127.0.0.1 port.

The page comes from one waitress server, the API (behind ``CORS``) from another, so the browser
itself applies the Fetch standard's CORS checks: the allowed origin reads a simple response
(and only the exposed header), and gets a preflighted ``PUT`` with a custom header and
credentials through; a second page on a third port, whose origin is not allowed, is blocked,
and its PUT never reaches the app.  Chromium is Debian's ``chromium`` package
(``scripts/install-browser.sh``); without it the tests skip.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.servers import serve

pytestmark = pytest.mark.e2e

CHROMIUM_SECONDS = 60
RESULT = re.compile(r"RESULT:(.*?):END", re.S)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        pytest.skip("Chromium is not installed: run scripts/install-browser.sh (Debian, as root)")
    return path


def run_page(chromium: str, url: str) -> dict[str, Any]:
    """Load ``url`` in headless Chromium and return the JSON the page wrote into its DOM."""
    with tempfile.TemporaryDirectory(prefix="cors-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so we can stop its helpers too
        )
        try:
            out, err = process.communicate(timeout=CHROMIUM_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
            pytest.fail(f"Chromium did not finish {url} within {CHROMIUM_SECONDS}s")
    dom = out.decode("utf-8", "replace")
    match = RESULT.search(dom)
    assert match, f"the page wrote no result (exit {process.returncode}):\n{dom}\n{err[-2000:]!r}"
    result: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return result


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    with (
        serve("tests.e2e.cors_apps:page") as allowed_page,
        serve("tests.e2e.cors_apps:page") as refused_page,
        serve("tests.e2e.cors_apps:api", env={"CORS_E2E_ORIGIN": allowed_page}) as api,
    ):
        yield {"allowed": allowed_page, "refused": refused_page, "api": api}


def stats(api: str) -> dict[str, int]:
    counts: dict[str, int] = requests.get(api + "/api/stats", timeout=10).json()
    return counts


def test_allowed_origin_succeeds_including_preflighted_credentialed_put(
    chromium: str, servers: dict[str, str]
) -> None:
    before = stats(servers["api"])
    result = run_page(chromium, f"{servers['allowed']}/?api={servers['api']}")
    assert result["origin"] == servers["allowed"]
    assert result["get"] == {
        "status": 200,
        "body": {"hello": "world"},
        "exposed": "req-42",  # listed in expose_headers
        "hidden": None,  # not exposed: the browser hides it from the script
    }
    assert result["login"] == {"status": 200}
    put = result["put"]
    assert put["status"] == 200, put
    assert put["body"]["token"] == "t0k3n"
    assert put["body"]["sent"] == {"n": 1}
    assert "session=s3cret" in put["body"]["cookie"]  # credentials were sent
    after = stats(servers["api"])
    assert after["preflights"] > before["preflights"]  # the browser did preflight the PUT
    assert after["puts"] == before["puts"] + 1


def test_disallowed_origin_is_blocked_by_the_browser(
    chromium: str, servers: dict[str, str]
) -> None:
    before = stats(servers["api"])
    result = run_page(chromium, f"{servers['refused']}/?api={servers['api']}")
    assert result["origin"] == servers["refused"]
    for name in ("get", "login", "put"):
        assert result[name].get("blocked") is True, (name, result[name])
        assert "Failed to fetch" in result[name]["error"]
    after = stats(servers["api"])
    assert after["preflights"] > before["preflights"]  # asked, and refused
    assert after["puts"] == before["puts"]  # so the PUT never reached the app
