"""Profile files for :class:`middlewares.profiler.Profiler`: names, rendering, exclusive writes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from middlewares._profile_formats import StatsDict, callgrind, pstats_bytes, speedscope
from middlewares._profile_html import flame_page

__all__ = ["FORMATS", "file_part", "render", "write_new"]

#: The file each format writes, by extension (appended to the name ``filename_format`` gives).
FORMATS = {
    "pstats": ".prof",
    "speedscope": ".speedscope.json",
    "callgrind": ".callgrind",
    "html": ".html",
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_part(value: str) -> str:
    """A file-name-safe form of ``value``: no separators, no leading dot, bounded length."""
    return _UNSAFE.sub("_", value).lstrip(".")[:150]


def render(
    formats: Iterable[str], stats: StatsDict, meta: dict[str, object]
) -> list[tuple[str, bytes]]:
    """``(extension, content)`` of each format; ``meta`` has ``method``, ``path``, ``elapsed``."""
    title = f"{meta['method']} {meta['path']} ({meta['elapsed']} ms)"
    payloads = []
    for name in formats:
        if name == "pstats":
            payload = pstats_bytes(stats)
        elif name == "speedscope":
            payload = speedscope(stats, title)
        elif name == "callgrind":
            payload = callgrind(stats, title)
        else:
            payload = flame_page(stats, meta)
        payloads.append((FORMATS[name], payload))
    return payloads


def write_new(
    directory: str, base: str, payloads: list[tuple[str, bytes]], *, base_taken: bool = False
) -> str:
    """Write every payload as ``<stem><extension>``, never overwriting; returns the stem.

    Two requests may format to the same name (the default one repeats within a second), and
    workers share the directory: files are created exclusively (``O_EXCL``), and on a clash the
    set gets a random suffix.  ``base_taken`` skips a name the caller knows is used.
    """
    for attempt in range(1 if base_taken else 0, 8):
        stem = base if attempt == 0 else f"{base}-{os.urandom(3).hex()}"
        created: list[str] = []
        try:
            for ext, payload in payloads:
                target = os.path.join(directory, stem + ext)
                with open(target, "xb") as out:
                    created.append(target)
                    out.write(payload)
            return stem
        except FileExistsError:
            for target in created:
                os.unlink(target)
    raise FileExistsError(f"no free file name for {base!r} in {directory!r}")
