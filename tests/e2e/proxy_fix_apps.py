"""Apps behind ProxyFix for the end-to-end tests: each echoes the resolved environ as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from middlewares.proxy_fix import FORWARDED_KEY, ORIG_KEY, ProxyFix

KEYS = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    seen = {key: environ.get(key) for key in KEYS}
    seen["orig"] = environ.get(ORIG_KEY)
    seen["forwarded"] = environ.get(FORWARDED_KEY)
    body = json.dumps(seen).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


# The test client connects from 127.0.0.1, as a proxy on the same machine would.
x_forwarded = ProxyFix(
    echo, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1, trusted=["127.0.0.1"]
)
forwarded = ProxyFix(echo, forwarded=1, trusted=["127.0.0.1"])
# A proxy elsewhere is trusted, not the test client: the headers must be ignored.
untrusted = ProxyFix(echo, x_for=1, x_proto=1, x_host=1, trusted=["10.0.0.0/8"])
