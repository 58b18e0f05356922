"""Apps served by real servers in the Compress end-to-end tests (imported by the server)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from middlewares.compress import Compress

PAGE = b"<!doctype html><title>e2e</title>\n" + b"".join(
    b"<p id='p%d'>Compressed end to end, paragraph %d of the page.</p>\n" % (i, i)
    for i in range(400)
)
EVENTS = [b"data: event %d\n\n" % i for i in range(4)]
EVENT_GAP = 0.4  # seconds between events: long enough to see them arrive one by one


def _page(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    # As frameworks answer If-None-Match: a weak comparison with their own strong tag, and a
    # 304 without Content-Type.
    held = [
        tag.strip().removeprefix("W/") for tag in environ.get("HTTP_IF_NONE_MATCH", "").split(",")
    ]
    if '"page-v1"' in held:
        start_response("304 Not Modified", [("ETag", '"page-v1"')])
        return []
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(PAGE))),
            ("ETag", '"page-v1"'),
        ],
    )
    # HEAD with the body, as most frameworks do: the server drops it.
    return [PAGE]


def _events(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
    for index, event in enumerate(EVENTS):
        if index:
            time.sleep(EVENT_GAP)
        yield event


page = Compress(_page, encodings=("zstd", "br", "gzip"))
events = Compress(_events, streaming="batch")  # event streams are flushed whatever the mode
