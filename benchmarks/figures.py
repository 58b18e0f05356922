"""The figures of docs/figures.rst: each layer's cost against its anchor, and the whole stack.

Runs the in-process workloads of :mod:`benchmarks.stack` (each middleware alone against its
anchor alone; the full stack against the anchor stack on a hello app and on a 100 KB page)
in short interleaved rounds, then:

* writes ``docs/_static/overhead.svg``, a bar chart of the overhead per request (µs, log
  scale) of ours and the anchor side by side, drawn as plain SVG (no plotting library);
* prints the same figures as a reStructuredText table, and the goal lines, for the page.

Run from the project root (the anchors come with the bench extra)::

    python3 -m pip install -e ".[bench]"
    python3 -m benchmarks.figures
"""

from __future__ import annotations

import math
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from benchmarks import harness
from benchmarks.stack import (
    ANCHOR,
    OURS,
    close_loggers,
    goals,
    per_middleware,
    stack_workloads,
)

SVG_PATH = Path(__file__).resolve().parents[1] / "docs" / "_static" / "overhead.svg"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
OURS_COLOUR, ANCHOR_COLOUR = "#2a6f97", "#c8553d"


@dataclass
class Row:
    layer: str
    anchor_name: str
    workload: str
    ours_us: float
    anchor_us: float

    @property
    def ratio(self) -> float:
        return self.ours_us / self.anchor_us if self.anchor_us > 0 else float("inf")


# layer: (its anchor, the workload in a few words)
ANCHORS = {
    "ProxyFix": ("Werkzeug ProxyFix", "4 X-Forwarded headers applied"),
    "RequestLogger": ("Paste TransLogger", "one line to a file (combined)"),
    "CORS": ("wsgicors", "simple GET, allowed origin"),
    "Compress": ("paste.gzipper", "100 KB HTML page, gzip"),
    "StaticFiles": ("WhiteNoise", "1 KB file, 200 (whole request)"),
    "Dispatcher": ("Werkzeug DispatcherMiddleware", "3 mounts, depth-3 path"),
    "Profiler": ("Werkzeug ProfilerMiddleware", "request not sampled"),
}


def measure() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        hello, gzip_page, br_page = stack_workloads(directory)
        comparisons = per_middleware(directory)
        for comparison in comparisons:
            comparison.workload.run(ROUNDS)
            anchor, what = ANCHORS[comparison.layer]
            rows.append(
                Row(
                    comparison.layer,
                    anchor,
                    what,
                    comparison.ours_us(),
                    comparison.anchor_us(),
                )
            )
        for workload in (hello, gzip_page, br_page):
            workload.run(ROUNDS)
        close_loggers()
    rows.append(
        Row(
            "Full stack",
            "anchor stack",
            "hello app, proxied browser request",
            hello.overhead(OURS) / 1000,
            hello.overhead(ANCHOR) / 1000,
        )
    )
    rows.append(
        Row(
            "Full stack",
            "anchor stack",
            "100 KB HTML page, gzip",
            gzip_page.overhead(OURS) / 1000,
            gzip_page.overhead(ANCHOR) / 1000,
        )
    )
    return rows, goals(hello, gzip_page, br_page)


def rst_table(rows: list[Row]) -> str:
    header = ("Layer", "Anchor", "Workload", "Ours (µs)", "Anchor (µs)", "Ratio")
    cells = [
        (
            r.layer,
            r.anchor_name,
            r.workload,
            f"{r.ours_us:.1f}",
            f"{r.anchor_us:.1f}",
            f"{r.ratio:.2f}x",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([rule, line(header), rule, *map(line, cells), rule])


def svg_chart(rows: list[Row], title: str) -> str:
    """Grouped horizontal bars on a log scale: ours above, the anchor below, per row."""
    left, right, top, bar, gap = 260, 190, 60, 14, 14
    width = 960
    plot = width - left - right
    values = [v for r in rows for v in (r.ours_us, r.anchor_us) if v > 0]
    low = 10 ** math.floor(math.log10(max(min(values), 0.01)))
    high = 10 ** math.ceil(math.log10(max(values)))
    decades = math.log10(high) - math.log10(low)

    def x(value: float) -> float:
        value = min(max(value, low), high)
        return left + plot * (math.log10(value) - math.log10(low)) / decades

    height = top + len(rows) * (2 * bar + gap) + 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for exponent in range(round(math.log10(low)), round(math.log10(high)) + 1):
        tick = x(10.0**exponent)
        label = f"{10.0**exponent:g}"
        out.append(
            f'<line x1="{tick:.1f}" y1="{top - 8}" x2="{tick:.1f}" y2="{height - 45}" '
            'stroke="#ddd"/>'
        )
        out.append(f'<text x="{tick:.1f}" y="{height - 30}" text-anchor="middle">{label}</text>')
    out.append(
        f'<text x="{left + plot / 2}" y="{height - 10}" text-anchor="middle">'
        "overhead per request, µs (log scale; lower is better)</text>"
    )
    y = top
    for r in rows:
        out.append(
            f'<text x="{left - 8}" y="{y + bar - 2}" text-anchor="end" font-weight="bold">'
            f"{escape(r.layer)}</text>"
        )
        out.append(
            f'<text x="{left - 8}" y="{y + 2 * bar - 2}" text-anchor="end" fill="#555" '
            f'font-size="11">{escape(r.workload)}</text>'
        )
        for value, colour, name, offset in (
            (r.ours_us, OURS_COLOUR, "middlewares", 0),
            (r.anchor_us, ANCHOR_COLOUR, r.anchor_name, bar),
        ):
            end = x(value)
            out.append(
                f'<rect x="{left}" y="{y + offset}" width="{max(end - left, 1):.1f}" '
                f'height="{bar - 2}" fill="{colour}"><title>{escape(name)}: {value:.2f} µs'
                "</title></rect>"
            )
            out.append(
                f'<text x="{end + 4:.1f}" y="{y + offset + bar - 4}" font-size="10">'
                f"{value:.1f}{'' if name == 'middlewares' else ' ' + escape(name)}</text>"
            )
        y += 2 * bar + gap
    legend_y = 40
    for i, (colour, name) in enumerate(((OURS_COLOUR, "middlewares"), (ANCHOR_COLOUR, "anchor"))):
        lx = left + i * 140
        out.append(f'<rect x="{lx}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 18}" y="{legend_y}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    print(f"measuring ({ROUNDS} rounds of {harness.TARGET_SECONDS} s per candidate) ...")
    rows, goal_lines = measure()
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    SVG_PATH.parent.mkdir(parents=True, exist_ok=True)
    SVG_PATH.write_text(
        svg_chart(rows, f"Overhead per request: middlewares vs anchors ({machine})")
    )
    print(f"wrote {SVG_PATH}\n")
    print(rst_table(rows))
    print()
    for line in goal_lines:
        print(line)


if __name__ == "__main__":
    main()
