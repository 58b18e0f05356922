"""Profiler under real servers: concurrent profiled requests never fail, files and viewer work."""

from __future__ import annotations

import json
import pstats
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.e2e.profiler_apps import TOKEN
from tests.e2e.servers import serve, server_log

pytestmark = pytest.mark.e2e


def _wait_until_stable(
    directory: Path, pattern: str, quiet: float = 0.3, limit: float = 10.0
) -> None:
    """Return once no file matching ``pattern`` has appeared in ``directory`` for ``quiet`` s."""
    deadline = time.monotonic() + limit
    seen = len(list(directory.glob(pattern)))
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = len(list(directory.glob(pattern)))
        if now == seen:
            return
        seen = now


REQUESTS = 40


@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_concurrent_profiled_requests_never_fail(server: str, tmp_path: Path) -> None:
    env = {"PROFILER_E2E_DIR": str(tmp_path)}
    with serve("tests.e2e.profiler_apps:profiled", server=server, env=env) as base_url:
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(
                pool.map(
                    lambda i: requests.get(f"{base_url}/items/{i}?q=secret{i}", timeout=10),
                    range(REQUESTS),
                )
            )
        assert [r.status_code for r in responses] == [200] * REQUESTS
        for response in responses:
            assert len(json.loads(response.content)["pages"]) == 3
        # A profile is written when its response ends, which is after the client has read
        # the body: wait for the last workers to write theirs before asking for the listing.
        _wait_until_stable(tmp_path, "*.html")
        listing = requests.get(
            base_url + "/_profiler/", headers={"X-Profiler-Token": TOKEN}, timeout=10
        )
        hidden = requests.get(base_url + "/_profiler/", timeout=10)
        assert "Traceback" not in server_log(base_url)
    assert hidden.status_code == 404
    assert listing.status_code == 200
    prof_files = sorted(tmp_path.glob("*.prof"))
    # Every request either got the profiler or ran unprofiled because another one held it.
    assert 1 <= len(prof_files) <= REQUESTS
    assert not any("secret" in path.name for path in tmp_path.iterdir())
    names = {func[2] for func in pstats.Stats(str(prof_files[0])).stats}  # type: ignore[attr-defined]
    assert "render_items" in names
    assert "items_app" in names
    assert len(re.findall(r"\.html\?token=", listing.text)) == len(list(tmp_path.glob("*.html")))
