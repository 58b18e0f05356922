"""A faulty app inside the whole recommended stack, for the end-to-end fault tests.

Configured by environment variables: ``FS_STATIC`` (the static root), ``FS_ACCESS_LOG`` (the
file the JSON access lines go to).  ``GET /closes`` answers the close() count of every body so
far, as JSON, so the test can check each was closed exactly once in the server's process.
Every other path names its fault (``/raise-midway``, ``/api/raise-midway`` through the mount).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from examples.full_stack import full_stack

CHUNK = b"x" * 4096
_lock = threading.Lock()
CLOSES: dict[str, int] = {}


class Fault(Exception):
    """What the app raises."""


class Body:
    """The app's body: its chunks, then close() counted under the request's path."""

    def __init__(self, key: str, chunks: Iterator[bytes], *, close_raises: bool = False) -> None:
        self.key = key
        self.chunks = chunks
        self.close_raises = close_raises
        with _lock:
            CLOSES.setdefault(key, 0)

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        with _lock:
            CLOSES[self.key] += 1
        if self.close_raises:
            raise Fault(f"close failed for {self.key}")


def _chunks(count: int, *, fail_at: int | None = None, pause: float = 0.0) -> Iterator[bytes]:
    for index in range(count):
        if index == fail_at:
            raise Fault(f"failed at chunk {index}")
        yield CHUNK
        if pause:
            time.sleep(pause)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    key = environ["SCRIPT_NAME"] + environ["PATH_INFO"]
    fault = environ["PATH_INFO"].lstrip("/")
    headers = [("Content-Type", "text/plain")]
    if fault == "closes":
        with _lock:
            body = json.dumps(CLOSES).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if fault == "raise-before":
        raise Fault(f"before start_response for {key}")
    if fault == "raise-after-start":
        start_response("200 OK", headers)
        raise Fault(f"after start_response for {key}")
    if fault == "exc-info-before":
        start_response("200 OK", headers)
        try:
            raise Fault("handled")
        except Fault:
            start_response("500 Internal Server Error", headers, sys.exc_info())
        return Body(key, iter([b"an error page"]))
    if fault == "exc-info-after":

        def restart() -> Iterator[bytes]:
            yield CHUNK
            try:
                raise Fault(f"after the body started for {key}")
            except Fault:
                start_response("500 Internal Server Error", headers, sys.exc_info())
            yield b"never sent"

        start_response("200 OK", headers)
        return Body(key, restart())
    start_response("200 OK", headers)
    if fault == "raise-midway":
        return Body(key, _chunks(8, fail_at=4))
    if fault == "raise-in-close":
        return Body(key, _chunks(3), close_raises=True)
    if fault == "endless":  # for the client that goes away: runs at most 20 s
        return Body(key, _chunks(2000, pause=0.01))
    return Body(key, _chunks(2))


def _access_logger() -> logging.Logger:
    logger = logging.getLogger("e2e.full_stack.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(os.environ.get("FS_ACCESS_LOG", os.devnull), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


served = full_stack(
    app,
    static_dir=os.environ.get("FS_STATIC", os.path.dirname(__file__)),
    mounts={"/api": app},
    logger=_access_logger(),
    log_format="json",
)
