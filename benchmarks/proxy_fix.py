"""ProxyFix's per-request overhead against Werkzeug's ``ProxyFix`` (the anchor).

The issue's goal: with ``x_for``, ``x_proto``, ``x_host`` and ``x_prefix`` all applied, at most
0.3x of Werkzeug's overhead measured in the same run.  Also printed: the untrusted-peer path
(one memo lookup) and RFC 7239 ``Forwarded``, which Werkzeug does not read.

Run from the project root: ``python -m benchmarks.proxy_fix``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Workload, check_ratio, hello_app, make_environ
from middlewares.proxy_fix import ProxyFix

GOAL = 0.3
X_HEADERS = {
    "X-Forwarded-For": "198.51.100.20, 203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "example.com",
    "X-Forwarded-Prefix": "/app",
}
X_OPTIONS = {"x_for": 1, "x_proto": 1, "x_host": 1, "x_prefix": 1}
OURS = "ProxyFix, 4 headers applied"


def main() -> None:
    try:
        from werkzeug.middleware.proxy_fix import ProxyFix as WerkzeugProxyFix
    except ImportError:  # the bench extra is not installed: print our rows alone
        WerkzeugProxyFix = None

    candidates: dict[str, Any] = {
        "bare hello app": hello_app,
        OURS: ProxyFix(hello_app, **X_OPTIONS),
        "ProxyFix, untrusted peer": ProxyFix(hello_app, **X_OPTIONS, trusted=["10.0.0.1"]),
    }
    anchor = None
    if WerkzeugProxyFix is not None:
        anchor = "werkzeug ProxyFix, 4 headers"
        candidates[anchor] = WerkzeugProxyFix(hello_app, **X_OPTIONS)
    workload = Workload(
        "proxy_fix: X-Forwarded-For/Proto/Host/Prefix from 127.0.0.1",
        make_environ("/", headers=X_HEADERS),
        candidates,
        "bare hello app",
        anchor,
    )
    workload.run()
    workload.report()
    if anchor is not None:
        print(check_ratio("ProxyFix vs werkzeug ProxyFix", workload.ratio(OURS), GOAL))

    forwarded = Workload(
        "proxy_fix: RFC 7239 Forwarded, one trusted element",
        make_environ(
            "/", headers={"Forwarded": 'for="[2001:db8::7]:4711";proto=https;host=example.com'}
        ),
        {"bare hello app": hello_app, "ProxyFix(forwarded=1)": ProxyFix(hello_app, forwarded=1)},
        "bare hello app",
    )
    forwarded.run()
    forwarded.report()


if __name__ == "__main__":
    main()
