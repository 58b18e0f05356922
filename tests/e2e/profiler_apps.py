"""Apps for the Profiler end-to-end tests (imported by the server process).

The profile directory comes from ``PROFILER_E2E_DIR``, set by the test that starts the server.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from middlewares.profiler import Profiler

TOKEN = "e2e-viewer-token-0123456789"


def render_items(n: int) -> bytes:
    return json.dumps([{"id": i, "name": f"item {i}"} for i in range(n)]).encode()


def items_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])

    def chunks() -> Iterator[bytes]:
        yield b'{"pages":['
        for page in range(3):
            time.sleep(0.002)  # a slow source: requests overlap in the server's threads
            yield (b"," if page else b"") + render_items(50)
        yield b"]}"

    return chunks()


profiled = Profiler(
    items_app,
    profile_dir=os.environ.get("PROFILER_E2E_DIR", "."),
    formats=("pstats", "html"),
    sample_rate=1.0,
    viewer_path="/_profiler",
    viewer_token=TOKEN,
)
