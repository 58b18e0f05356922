"""The HTML outputs of :class:`middlewares.profiler.Profiler`: the flame graph page and the viewer.

Both pages are self-contained (inline CSS and SVG, no scripts, no external URL) and escape every
value they show with :func:`html.escape`: function names (``<lambda>``, ``<listcomp>``), request
paths and methods come from code and clients, and a page that echoes them raw is an XSS (the
reflected XSS of repoze.profile's browser page).  The viewer serves them under a
Content-Security-Policy that forbids scripts, as a second line of defence.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from middlewares._profile_formats import Node, StatsDict, call_tree, label

__all__ = ["META_MARK", "ProfileEntry", "flame_page", "read_meta", "viewer_page"]

# The first lines of each flame page carry the request as JSON in a comment, so the viewer can
# list profiles written by every worker process from the directory alone.
META_MARK = "<!-- middlewares-profile "

_WIDTH = 1200.0
_ROW = 18
_CHAR = 7.0  # approximate width of one character of the 12px monospace label, for truncation
_TOP = 40

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.2em;word-break:break-all}
svg{width:100%;height:auto;border:1px solid #ddd}
svg text{font:12px monospace;pointer-events:none}
svg g:hover rect{stroke:#000;stroke-width:1}
table{border-collapse:collapse;margin-top:1.5em}
th,td{padding:2px 10px;text-align:right;border-bottom:1px solid #eee;font-size:13px}
td.fn,th.fn{text-align:left;font-family:monospace;word-break:break-all}
"""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000.0:.3f}"


def _colour(name: str) -> str:
    # A stable warm colour per function, so one function looks the same everywhere.
    h = zlib.crc32(name.encode("utf-8", "backslashreplace"))
    return f"rgb({205 + h % 50},{80 + (h >> 8) % 130},{40 + (h >> 16) % 50})"


def _frames(tree: Node) -> tuple[list[str], int]:
    """The SVG groups of the tree's frames (icicle: callers above callees) and its depth."""
    parts: list[str] = []
    scale = _WIDTH / tree.total if tree.total > 0 else 0.0
    deepest = 0
    # Iterative walk: (node, x in seconds, depth).
    pending: list[tuple[Node, float, int]] = [(tree, 0.0, 0)]
    while pending:
        node, x, depth = pending.pop()
        deepest = max(deepest, depth)
        name = "all" if node.func is None else label(node.func)
        width = node.total * scale
        share = 100.0 * node.total / tree.total if tree.total > 0 else 0.0
        tip = f"{name}: {_ms(node.total)} ms ({share:.1f}%), own {_ms(node.own)} ms"
        text = ""
        if width >= 3 * _CHAR:
            fit = int(width / _CHAR) - 1
            shown = name if len(name) <= fit else name[: max(fit - 1, 1)] + "\u2026"
            text = f'<text x="{x * scale + 3:.2f}" y="{depth * _ROW + 13}">{escape(shown)}</text>'
        parts.append(
            f'<g><title>{escape(tip)}</title><rect x="{x * scale:.2f}" y="{depth * _ROW}" '
            f'width="{width:.2f}" height="{_ROW - 1}" fill="{_colour(name)}"/>{text}</g>'
        )
        child_x = x
        for child in node.children:
            pending.append((child, child_x, depth + 1))
            child_x += child.total
    return parts, deepest + 1


def _table(stats: StatsDict) -> str:
    rows = sorted(stats.items(), key=lambda item: -float(item[1][3]))[:_TOP]
    body = []
    for func, (cc, nc, tt, ct, _callers) in rows:
        calls = str(nc) if cc == nc else f"{nc}/{cc}"
        where = f"{func[0]}:{func[1]}" if func[0] != "~" else ""
        body.append(
            f"<tr><td>{calls}</td><td>{_ms(tt)}</td><td>{_ms(ct)}</td>"
            f'<td class="fn">{escape(func[2])}</td><td class="fn">{escape(where)}</td></tr>'
        )
    return (
        f"<table><caption>Top {_TOP} functions by cumulative time</caption>"
        "<tr><th>calls</th><th>own ms</th><th>cumulative ms</th>"
        '<th class="fn">function</th><th class="fn">where</th></tr>' + "".join(body) + "</table>"
    )


def flame_page(stats: StatsDict, meta: dict[str, object]) -> bytes:
    """The flame graph page of one request; ``meta`` has ``method``, ``path``, ``elapsed``."""
    tree = call_tree(stats)
    frames, depth = _frames(tree)
    title = f"{meta.get('method', '')} {meta.get('path', '')}"
    # "<", ">" and "&" escaped as JSON \\u escapes: the comment can never be closed early.
    blob = json.dumps(meta).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    height = depth * _ROW
    page = (
        f"<!doctype html>\n{META_MARK}{blob} -->\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>{escape(str(meta.get('elapsed', '')))} ms wall time; "
        f"{_ms(tree.total)} ms profiled. Hover a frame for its figures.</p>"
        f'<svg viewBox="0 0 {_WIDTH:.0f} {height}" role="img" aria-label="flame graph">'
        + "".join(frames)
        + "</svg>"
        + _table(stats)
        + "</body></html>\n"
    )
    return page.encode("utf-8", "backslashreplace")


def read_meta(head: bytes) -> dict[str, object]:
    """The request a flame page describes, from its first bytes; ``{}`` if they are not ours."""
    text = head.decode("utf-8", "replace")
    start = text.find(META_MARK)
    end = text.find(" -->", start)
    if start < 0 or end < 0:
        return {}
    try:
        meta = json.loads(text[start + len(META_MARK) : end])
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


@dataclass(slots=True)
class ProfileEntry:
    """One profile the viewer lists: its base file name, files, and the request it measured."""

    base: str
    files: list[str]
    mtime: float
    meta: dict[str, object]


def viewer_page(entries: list[ProfileEntry], prefix: str, token: str) -> bytes:
    """The listing page; each file's link is ``prefix/<file>?token=...``."""
    query = "?token=" + quote(token, safe="")
    # The prefix holds SCRIPT_NAME: the URL's bytes as latin-1 text (PEP 3333, "Unicode
    # Issues"), so latin-1 gives the bytes back; UTF-8 would encode a non-ASCII mount twice.
    prefix = quote(prefix.rstrip("/"), safe="/", encoding="latin-1") + "/"
    rows = []
    for entry in entries:
        request = f"{entry.meta.get('method', '?')} {entry.meta.get('path', '?')}"
        links = " ".join(
            f'<a href="{escape(prefix + quote(name) + query)}">{escape(name)}</a>'
            for name in entry.files
        )
        rows.append(
            f'<tr><td class="fn">{escape(request)}</td>'
            f"<td>{escape(str(entry.meta.get('elapsed', '')))}</td>"
            f'<td class="fn">{escape(entry.base)}</td><td class="fn">{links}</td></tr>'
        )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Recent profiles</title><style>{_STYLE}</style></head><body>"
        f"<h1>Recent profiles ({len(entries)})</h1>"
        "<table><tr><th class='fn'>request</th><th>ms</th><th class='fn'>name</th>"
        "<th class='fn'>files</th></tr>" + "".join(rows) + "</table></body></html>\n"
    )
    return page.encode("utf-8", "backslashreplace")
