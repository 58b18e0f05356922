"""Apps for the RequestLogger end-to-end tests, configured by environment variables.

``RL_ACCESS_LOG``: the file the access lines (JSON) go to.  ``RL_APP_LOG``: the file the app's
own records go to, each with the request id taken by :class:`RequestIdFilter` from the context.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from middlewares.request_log import RequestIdFilter, RequestLogger, current_request_id


def _file_logger(name: str, path: str, fmt: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    return logger


_app_log = _file_logger(
    "e2e.request_log.app", os.environ.get("RL_APP_LOG", os.devnull), "%(request_id)s %(message)s"
)
_access_log = _file_logger(
    "e2e.request_log.access", os.environ.get("RL_ACCESS_LOG", os.devnull), "%(message)s"
)
_FILE_DATA = b"0123456789abcdef" * 4096  # 64 KiB served through wsgi.file_wrapper


def _slow_stream(path: str) -> Iterator[bytes]:
    # Runs in the server's frame; the app's records must still carry this request's id.
    for index in range(3):
        time.sleep(0.02)  # let the other threads' requests interleave with this one
        _app_log.info("chunk %d of %s (context says %s)", index, path, current_request_id())
        yield f"{path} chunk {index}\n".encode()


def _endless(stop_after: float) -> Iterator[bytes]:
    deadline = time.monotonic() + stop_after
    chunk = b"x" * 65536
    while time.monotonic() < deadline:
        yield chunk
        time.sleep(0.005)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    _app_log.info("called for %s", path)
    if path == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - the server closes it via the wrapper
        handle.write(_FILE_DATA)
        handle.seek(0)
        wrapper = environ["wsgi.file_wrapper"](handle, 8192)
        _app_log.info("file wrapper class %s", type(wrapper).__name__)
        return wrapper
    if path == "/endless":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _endless(10.0)
    if path == "/fail":
        raise RuntimeError("the app failed")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _slow_stream(path)


logged = RequestLogger(app, logger=_access_log, format="json")


def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The logged app, noting which class of body the server is handed (sendfile check)."""
    body = logged(environ, start_response)
    wrapper = environ["wsgi.file_wrapper"]
    _app_log.info(
        "server gets %s, its file_wrapper: %s", type(body).__name__, isinstance(body, wrapper)
    )
    return body
