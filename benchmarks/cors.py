"""CORS against wsgicors: a simple request with an allowed origin, and a preflight.

Every request carries a different origin (``https://c<n>.example.com``), so wsgicors's
per-origin ``lru_cache`` does not hide its matching cost; both sides allow the origins with one
pattern (our anchored regex, wsgicors's ``*.example.com`` wildcard) and credentials.  The goal
(issue 7): each workload at most 1.0x of wsgicors's overhead.  Run from the project root::

    python -m benchmarks.cors
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from benchmarks.harness import Environ, Workload, check_ratio, hello_app, make_environ
from middlewares.cors import CORS

GOAL = 1.0


def varying_origin(base: Callable[[], Environ]) -> Callable[[], Environ]:
    """``base`` with a new Origin each request, so nothing can be cached per origin."""
    counter = itertools.count()

    def factory() -> Environ:
        env = base()
        env["HTTP_ORIGIN"] = f"https://c{next(counter)}.example.com"
        return env

    return factory


def main() -> None:
    try:
        from wsgicors import CORS as WsgiCORS
    except ImportError:  # the bench extra is not installed
        print("wsgicors is not installed (pip install -e '.[bench]'); nothing to compare")
        return
    ours = CORS(
        hello_app,
        allow_origin_regex=r"https://[a-z0-9-]+\.example\.com",
        allow_methods=["GET", "PUT"],
        allow_headers=["X-Token"],
        allow_credentials=True,
        expose_headers=["X-Id"],
        max_age=600,
    )
    theirs: Any = WsgiCORS(
        hello_app,
        origin="https://*.example.com",
        methods="GET, PUT",
        headers="x-token",
        expose_headers="X-Id",
        credentials="true",
        maxage="600",
    )
    candidates = {"bare hello app": hello_app, "wsgicors.CORS": theirs, "middlewares CORS": ours}
    simple = Workload(
        "cors: simple GET, allowed origin (new origin each request)",
        varying_origin(make_environ("/api/items")),
        candidates,
        baseline="bare hello app",
        anchor="wsgicors.CORS",
    )
    preflight = Workload(
        "cors: preflight PUT + X-Token (new origin each request)",
        varying_origin(
            make_environ(
                "/api/items",
                method="OPTIONS",
                headers={
                    "Access-Control-Request-Method": "PUT",
                    "Access-Control-Request-Headers": "x-token",
                },
            )
        ),
        candidates,
        baseline="bare hello app",
        anchor="wsgicors.CORS",
    )
    for workload in (simple, preflight):
        workload.run()
        workload.report()
    print()
    print(check_ratio("simple request vs wsgicors", simple.ratio("middlewares CORS"), GOAL))
    print(check_ratio("preflight vs wsgicors", preflight.ratio("middlewares CORS"), GOAL))


if __name__ == "__main__":
    main()
