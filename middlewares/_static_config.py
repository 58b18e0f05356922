"""Configuration checks of :class:`~middlewares.static.StaticFiles`: done once, in ``__init__``.

Each check raises ``ValueError``/``TypeError`` naming the option, so a misconfiguration fails at
start-up rather than on the first request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from middlewares._static_index import split_path, url_key

if TYPE_CHECKING:
    from middlewares._wsgi import Headers

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 section 5.6.2
# Headers StaticFiles computes per response: letting `headers` set them would break framing.
_OWN_HEADERS = frozenset(
    ("content-length", "content-range", "content-encoding", "content-type", "etag",
     "last-modified", "transfer-encoding", "accept-ranges")
)  # fmt: skip
_CONTROL_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def positive(name: str, value: int, *, zero: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if zero else 1):
        raise ValueError(f"{name} must be an int >= {0 if zero else 1}, not {value!r}")
    return value


def content_types(mapping: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    items = []
    for suffix, ctype in (mapping or {}).items():
        if not suffix.startswith(".") or "/" not in ctype or _CONTROL_IN_VALUE.search(ctype):
            raise ValueError(f"mimetypes: expected {{'.suffix': 'type/subtype'}}, got {suffix!r}")
        items.append((suffix.lower(), ctype))
    return tuple(sorted(items, key=lambda item: -len(item[0])))  # longest suffix wins


def mounts(directories: Mapping[str, str | os.PathLike[str]]) -> list[tuple[str, str, str]]:
    if not isinstance(directories, Mapping) or not directories:
        raise TypeError("directories must be a non-empty mapping of URL prefix -> directory")
    mounts: dict[str, tuple[str, str, str]] = {}
    for prefix, directory in directories.items():
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"directories: prefix {prefix!r} must start with '/'")
        stripped = prefix.rstrip("/")
        if stripped and split_path(url_key(stripped)) is None:
            raise ValueError(f"directories: prefix {prefix!r} is not a plain URL path")
        root = os.path.abspath(os.fspath(directory))
        if not os.path.isdir(root):
            raise ValueError(f"directories: {prefix!r} -> {root!r} is not a directory")
        key = url_key(stripped)
        if key in mounts:
            raise ValueError(f"directories: prefix {prefix!r} is given twice")
        mounts[key] = (key, root, os.path.realpath(root))
    return sorted(mounts.values(), key=lambda mount: -len(mount[0]))


class Contained:
    """Whether a path, symlinks resolved, stays inside the real root (always, if following)."""

    __slots__ = ("_follow", "_inside", "_root")

    def __init__(self, real_root: str, follow_symlinks: bool) -> None:
        self._root = real_root
        self._inside = real_root.rstrip(os.sep) + os.sep
        self._follow = follow_symlinks

    def __call__(self, path: str) -> bool:
        if self._follow:
            return True
        real = os.path.realpath(path)
        return real == self._root or real.startswith(self._inside)


def checked_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Headers:
    """The ``headers`` option as a list, each name a token and each value free of CR/LF/NUL."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    extra = [(str(name), str(value)) for name, value in items]
    for name, value in extra:
        if not _TOKEN.fullmatch(name) or _CONTROL_IN_VALUE.search(value):
            raise ValueError(f"headers: invalid header {name!r}: {value!r}")
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"headers: {name} is set by StaticFiles per response")
    return extra
