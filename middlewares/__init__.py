"""Composable, correct and fast WSGI middleware.

Everything a user needs is importable from here::

    from middlewares import stack
"""

from __future__ import annotations

from .stack import Stack, stack

__all__ = [
    "Stack",
    "stack",
]
__version__ = "0.1.0.dev0"
