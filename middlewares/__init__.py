"""Composable, correct and fast WSGI middleware.

Everything a user needs is importable from here::

    from middlewares import CORS, Compress, ProxyFix, RequestLogger, StaticFiles, stack
"""

from __future__ import annotations

from .compress import Compress
from .config import ConfigError, load
from .cors import CORS
from .dispatch import Dispatcher, Route
from .profiler import Profiler
from .proxy_fix import ProxyFix
from .request_log import RequestIdFilter, RequestLogger, current_request_id
from .stack import Stack, stack
from .static import StaticFiles

__all__ = [
    "CORS",
    "Compress",
    "ConfigError",
    "Dispatcher",
    "Profiler",
    "ProxyFix",
    "RequestIdFilter",
    "RequestLogger",
    "Route",
    "Stack",
    "StaticFiles",
    "current_request_id",
    "load",
    "stack",
]
__version__ = "0.1.0.dev0"
