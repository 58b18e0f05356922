"""The whole recommended stack around any WSGI app, in the order docs/ordering.rst explains.

    ProxyFix, RequestLogger, CORS, Compress, StaticFiles, Dispatcher, Profiler, app

Copy it and change the options, or import it::

    from examples.full_stack import full_stack
    application = full_stack(my_app, static_dir="assets", mounts={"/api": api_app})

The benchmarks (benchmarks/stack.py), the soak script and the whole-stack fault and
hostile-input tests all build their stack here, so they measure and test the same thing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from middlewares import (
    CORS,
    Compress,
    Dispatcher,
    Profiler,
    ProxyFix,
    RequestLogger,
    Stack,
    StaticFiles,
    stack,
)

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication


def full_stack(
    app: WSGIApplication,
    *,
    static_dir: str | os.PathLike[str],
    mounts: Mapping[str, Any] | None = None,
    trusted: tuple[str, ...] = ("127.0.0.1", "::1"),
    allow_origins: tuple[str, ...] = ("https://app.example",),
    logger: str | logging.Logger = "middlewares.access",
    log_format: str = "combined",
    sample_rate: float = 0.0,
) -> Stack:
    """``app`` wrapped in all seven middlewares, outermost first."""
    return stack(
        app,
        # x_host=1: only if your proxy *sets* X-Forwarded-Host (docs/middlewares/proxy_fix.rst).
        partial(ProxyFix, x_for=1, x_proto=1, x_host=1, x_prefix=1, trusted=trusted),
        partial(RequestLogger, logger=logger, format=log_format),
        partial(
            CORS,
            allow_origins=allow_origins,
            allow_methods=("GET", "HEAD", "POST", "PUT"),
            allow_headers=("X-Custom",),
            expose_headers=("X-Request-ID",),
        ),
        Compress,
        partial(StaticFiles, directories={"/static": os.fspath(static_dir)}),
        partial(Dispatcher, mounts=dict(mounts or {})),
        partial(Profiler, sample_rate=sample_rate),
    )
