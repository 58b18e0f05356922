"""Apps served by real servers in the end-to-end tests (imported by the server process)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from middlewares import stack


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


def _record(app: Any) -> Any:
    def layer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = app(environ, start_response)
        return body

    return layer


stacked_hello = stack(hello, _record)
