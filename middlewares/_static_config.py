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
_NOT_LATIN1 = re.compile(r"[^\x00-\xff]")


def positive(name: str, value: int, *, zero: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if zero else 1):
        raise ValueError(f"{name} must be an int >= {0 if zero else 1}, not {value!r}")
    return value


def max_age_seconds(value: int | None) -> int | None:
    # bool is an int to isinstance: max_age=True would send "max-age=True".
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError(f"max_age must be a non-negative int or None, not {value!r}")
    if value is not None and value < 0:
        raise ValueError(f"max_age must be a non-negative int or None, not {value!r}")
    return value


def immutable_pattern(value: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    """The ``immutable`` option compiled; it is searched in ``str`` URL paths per file."""
    if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
        return value
    if value is not None and not isinstance(value, str):
        raise TypeError(f"immutable must be a str regular expression or None, not {value!r}")
    try:
        return None if value is None else re.compile(value)
    except re.error as exc:  # not a ValueError: name the option rather than let it through
        raise ValueError(f"immutable: invalid regular expression {value!r}: {exc}") from None


def index_name(value: str | None) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"index must be a file name (str) or None, not {value!r}")
    if value is not None and (not value or "/" in value or value.startswith(".")):
        raise ValueError(f"index must be a plain file name or None, not {value!r}")
    return value


def content_types(mapping: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if mapping is not None and not isinstance(mapping, Mapping):
        raise TypeError(
            f"mimetypes must be a mapping of '.suffix' -> type or None, not {mapping!r}"
        )
    items = []
    for suffix, ctype in (mapping or {}).items():
        if not isinstance(suffix, str) or not isinstance(ctype, str):
            raise TypeError(f"mimetypes: expected str -> str, got {suffix!r}: {ctype!r}")
        bad_value = _CONTROL_IN_VALUE.search(ctype) or _NOT_LATIN1.search(ctype)
        if not suffix.startswith(".") or "/" not in ctype or bad_value:
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
        path = os.fspath(directory) if isinstance(directory, (str, os.PathLike)) else None
        if not isinstance(path, str):
            raise TypeError(f"directories: {prefix!r} -> {directory!r} must be a str or a path")
        root = os.path.abspath(path)
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
    """The ``headers`` option as a list, each name a token and each value latin-1 text free of
    CR/LF/NUL: PEP 3333 header values are ISO-8859-1 strings, and a server would fail on every
    response rather than here."""
    if isinstance(headers, (str, bytes)):  # iterating it would give characters, not pairs
        raise TypeError(f"headers must be a mapping or (name, value) pairs, not {headers!r}")
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    extra = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:  # TOML gives lists
            raise TypeError(f"headers: expected (name, value) pairs, got {item!r}")
        extra.append((str(item[0]), str(item[1])))
    for name, value in extra:
        if not _TOKEN.fullmatch(name) or _CONTROL_IN_VALUE.search(value):
            raise ValueError(f"headers: invalid header {name!r}: {value!r}")
        if _NOT_LATIN1.search(value):
            raise ValueError(f"headers: {name} value {value!r} is not latin-1 (PEP 3333)")
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"headers: {name} is set by StaticFiles per response")
    return extra
