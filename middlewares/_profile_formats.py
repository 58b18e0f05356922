"""Writers for :class:`middlewares.profiler.Profiler`: pstats, speedscope, callgrind, call trees.

Every writer takes the statistics of one request as :mod:`pstats` holds them (``Stats.stats``):
a dict from a function key ``(file, line, name)`` to ``(primitive calls, calls, own time,
cumulative time, callers)``, where ``callers`` maps each calling function to the same four
figures for the calls it made.  cProfile measures an aggregated call graph, not a timeline, so
the flame graph and the speedscope file show a call *tree* rebuilt from it: a function's
cumulative time is shared among its callers in proportion to the time each call edge took
(the approach of flameprof and snakeviz).  The HTML page lives in :mod:`._profile_html`.
"""

from __future__ import annotations

import json
import marshal
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FuncKey",
    "Node",
    "StatsDict",
    "call_tree",
    "callgrind",
    "label",
    "pstats_bytes",
    "speedscope",
]

FuncKey = tuple[str, int, str]
StatsDict = dict[FuncKey, tuple[Any, ...]]

# Calls of the profiler's own enable()/disable() that cProfile records at the edges of each step.
_PROFILER_NOISE = "of '_lsprof.Profiler' objects"


def label(func: FuncKey) -> str:
    """A readable name: ``name (file.py:line)``, or the built-in's own ``<built-in ...>`` name."""
    filename, line, name = func
    if filename == "~" and line == 0:  # cProfile's key for C functions
        return name
    return f"{name} ({os.path.basename(filename)}:{line})"


def pstats_bytes(stats: StatsDict) -> bytes:
    """The ``.prof`` file's content: what :meth:`pstats.Stats.dump_stats` writes (marshal)."""
    return marshal.dumps(stats)


# --- the call tree ---------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """One frame of the rebuilt call tree; ``total`` and ``own`` are seconds."""

    func: FuncKey | None
    total: float
    own: float
    children: list[Node] = field(default_factory=list)


def _callees(stats: StatsDict) -> dict[FuncKey, dict[FuncKey, float]]:
    callees: dict[FuncKey, dict[FuncKey, float]] = {}
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        for caller, edge in callers.items():
            callees.setdefault(caller, {})[func] = float(edge[3])
    return callees


def call_tree(stats: StatsDict, *, min_fraction: float = 0.001, max_depth: int = 64) -> Node:
    """The call tree under a synthetic root (``func=None``) whose total is the profiled time.

    Frames narrower than ``min_fraction`` of the total are left out, and so are recursive
    re-entries (their time is already inside the outer frame), which bounds the tree's size:
    siblings never overlap, so each level holds at most ``1 / min_fraction`` frames.
    """
    callees = _callees(stats)
    # A root is a function some of whose calls came from outside the profile (the application,
    # each body step): more calls than its callers account for.  Its width is the time not
    # already inside another caller's frame.
    widths: dict[FuncKey, float] = {}
    for func, (_cc, nc, _tt, ct, callers) in stats.items():
        if _PROFILER_NOISE in func[2] or nc <= sum(edge[0] for edge in callers.values()):
            continue
        inside = sum(float(edge[3]) for caller, edge in callers.items() if caller != func)
        widths[func] = max(float(ct) - inside, 0.0)
    roots = sorted(widths, key=lambda func: -widths[func])
    total = sum(widths.values())
    root = Node(None, total, 0.0)
    threshold = total * min_fraction

    def grow(node: Node, func: FuncKey, scale: float, path: frozenset[FuncKey], depth: int) -> None:
        if depth >= max_depth:
            return
        edges = sorted(callees.get(func, {}).items(), key=lambda item: -item[1])
        room = node.total
        for callee, edge_time in edges:
            width = min(edge_time * scale, room)
            if callee in path or width <= threshold:
                continue
            room -= width
            node.children.append(_node(callee, width, path, depth + 1))

    def _node(func: FuncKey, width: float, path: frozenset[FuncKey], depth: int) -> Node:
        cumulative = float(stats[func][3])
        scale = width / cumulative if cumulative > 0 else 0.0
        node = Node(func, width, min(float(stats[func][2]) * scale, width))
        grow(node, func, scale, path | {func}, depth)
        return node

    for func in roots:
        width = widths[func]
        if width > threshold:
            root.children.append(_node(func, width, frozenset(), 0))
    return root


# --- speedscope ------------------------------------------------------------------------------

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def speedscope(stats: StatsDict, name: str) -> bytes:
    """A speedscope file (an "evented" profile, milliseconds) drawing the rebuilt call tree.

    The events replay the tree left to right, so speedscope's "Left Heavy" and "Sandwich"
    views are exact; the "Time Order" view is the tree's order, not the request's timeline.
    """
    tree = call_tree(stats)
    frames: list[dict[str, Any]] = []
    index: dict[FuncKey, int] = {}
    events: list[dict[str, Any]] = []

    def visit(node: Node, at: float) -> None:
        if node.func is None:
            frame = -1
        else:
            if node.func not in index:
                index[node.func] = len(frames)
                filename, line, _name = node.func
                entry: dict[str, Any] = {"name": label(node.func)}
                if filename != "~":
                    entry.update(file=filename, line=line)
                frames.append(entry)
            frame = index[node.func]
            events.append({"type": "O", "frame": frame, "at": at * 1000.0})
        child_at = at
        for child in node.children:
            visit(child, child_at)
            child_at += child.total
        if frame >= 0:
            events.append({"type": "C", "frame": frame, "at": (at + node.total) * 1000.0})

    visit(tree, 0.0)
    document = {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "evented",
                "name": name,
                "unit": "milliseconds",
                "startValue": 0.0,
                "endValue": tree.total * 1000.0,
                "events": events,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "middlewares.profiler",
    }
    return json.dumps(document, separators=(",", ":")).encode()


# --- callgrind -------------------------------------------------------------------------------


def callgrind(stats: StatsDict, command: str) -> bytes:
    """A callgrind file (KCachegrind, QCacheGrind) with costs in microseconds.

    Format: https://valgrind.org/docs/manual/cl-format.html.  Per function, a ``fn=`` block with
    its own cost on its line, then one ``cfn=``/``calls=`` pair per callee with the inclusive
    cost of those calls.  File and function names use the format's ``(id)`` compression.
    """
    ids: dict[tuple[str, str], int] = {}

    def name(kind: str, value: str) -> str:
        value = " ".join(value.splitlines())  # a name is the rest of one line
        key = (kind, value)
        if key in ids:
            return f"({ids[key]})"
        ids[key] = len(ids) + 1
        return f"({ids[key]}) {value}"

    def file_of(func: FuncKey) -> str:
        return "<built-in>" if func[0] == "~" else func[0]

    callees: dict[FuncKey, list[tuple[FuncKey, tuple[Any, ...]]]] = {}
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        for caller, edge in callers.items():
            callees.setdefault(caller, []).append((func, edge))
    total = sum(int(tt * 1e6) for (_cc, _nc, tt, _ct, _callers) in stats.values())
    lines = [
        "# callgrind format",
        "version: 1",
        "creator: middlewares.profiler",
        "cmd: " + " ".join(command.splitlines()),
        "positions: line",
        "events: Microseconds",
        f"summary: {total}",
        "",
    ]
    for func, (_cc, _nc, tt, _ct, _callers) in stats.items():
        lines.append("fl=" + name("fl", file_of(func)))
        lines.append("fn=" + name("fn", label(func)))
        lines.append(f"{func[1]} {int(tt * 1e6)}")
        for callee, edge in callees.get(func, []):
            lines.append("cfl=" + name("fl", file_of(callee)))
            lines.append("cfn=" + name("fn", label(callee)))
            lines.append(f"calls={int(edge[0])} {callee[1]}")
            lines.append(f"{func[1]} {int(float(edge[3]) * 1e6)}")
        lines.append("")
    return "\n".join(lines).encode("utf-8", "backslashreplace")
