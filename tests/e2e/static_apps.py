"""StaticFiles served by real servers in the end-to-end tests (imported by the server process).

The directory comes from ``STATIC_E2E_ROOT``.  The outer layer prints, to the server's log,
whether the body handed to the server is an instance of the server's own
``wsgi.file_wrapper`` (so a test can check that sendfile was used), then returns it unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from middlewares.static import StaticFiles


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("X-App", "yes")])
    return [b"not found by the app"]


def _report(app: Any) -> Any:
    def layer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = app(environ, start_response)
        wrapper = environ.get("wsgi.file_wrapper")
        used = isinstance(wrapper, type) and isinstance(body, wrapper)
        line = f"BODY {environ['PATH_INFO']} range={environ.get('HTTP_RANGE')} file_wrapper={used}"
        print(line, file=sys.stderr, flush=True)
        return body

    return layer


_root = os.environ.get("STATIC_E2E_ROOT")
static = _report(StaticFiles(_not_found, directories={"/static": _root})) if _root else None
