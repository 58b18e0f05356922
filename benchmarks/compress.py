"""Compress against its anchors: the raw codec, paste.gzipper and flask-compress, in one run.

Run from the project root: ``python -m benchmarks.compress`` (``BENCH_ROUNDS``/``BENCH_SECONDS``
as in the harness).  It prints figures and asserts nothing:

* a 100 KB varied HTML page, gzip and br: Compress's time per response against the raw codec
  compressing the same bytes (zlib level 6 via ``zlib.compressobj``, brotli quality 4), and
  against paste.gzipper and flask-compress for the same coding (goal: at most 1.05x the codec,
  below both middlewares);
* a 13-byte body below ``min_size``: Compress's overhead against paste.gzipper's (goal: under
  0.1x);
* a 1 GB generated stream through Compress, in a subprocess: peak RSS growth (goal: under
  20 MB), see :mod:`benchmarks.compress_rss`.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
import zlib
from typing import Any

import brotli

from benchmarks.harness import (
    Environ,
    Workload,
    check_ratio,
    hello_app,
    make_environ,
    request,
)
from middlewares.compress import Compress


def varied_page(size: int = 100_000, seed: int = 4) -> bytes:
    """An HTML page of ``size`` bytes: markup, words, numbers, links (compresses like real)."""
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
        for _ in range(800)
    ]
    parts = ["<!doctype html><html><head><title>Benchmark page</title></head><body>\n"]
    length = len(parts[0])
    while length < size:
        tag = rng.choice(["p", "li", "td", "span", "h3"])
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 30)))
        href = f"/item/{rng.randint(1, 10**6)}?ref={rng.choice(words)}"
        line = f'<{tag} class="c{rng.randint(1, 40)}"><a href="{href}">{text}</a></{tag}>\n'
        parts.append(line)
        length += len(line)
    return "".join(parts).encode()[:size]


PAGE = varied_page()
HTML = [("Content-Type", "text/html; charset=utf-8")]


def page_app(environ: Environ, start_response: Any) -> list[bytes]:
    start_response("200 OK", [*HTML, ("Content-Length", str(len(PAGE)))])
    return [PAGE]


def raw_gzip(environ: Environ, start_response: Any) -> list[bytes]:
    """The raw codec: what compressing these bytes costs with nothing around it."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = c.compress(PAGE) + c.flush()
    start_response("200 OK", [*HTML, ("Content-Encoding", "gzip")])
    return [data]


def raw_brotli(environ: Environ, start_response: Any) -> list[bytes]:
    data = brotli.compress(PAGE, quality=4)
    start_response("200 OK", [*HTML, ("Content-Encoding", "br")])
    return [data]


def flask_apps(body: bytes, algorithm: str) -> tuple[Any, Any]:
    """(the bare Flask app, the same app with flask-compress) answering ``body`` as HTML."""
    from flask import Flask
    from flask_compress import Compress as FlaskCompress

    def build(compressed: bool) -> Any:
        app = Flask(f"bench_{algorithm}_{compressed}")
        app.config["COMPRESS_ALGORITHM"] = [algorithm]

        @app.route("/")
        def index() -> Any:
            return body, 200, {"Content-Type": "text/html; charset=utf-8"}

        if compressed:
            FlaskCompress(app)
        return app

    return build(False), build(True)


def paired_cpu(apps: list[Any], factory: Any, samples: int = 100, batch: int = 1) -> list[float]:
    """Median CPU ns per request of each app, the apps alternated sample by sample.

    Wall time on a shared machine swings with other processes; the thread's CPU time of the
    same requests, alternated between the candidates, is a steadier cross-check.
    """
    times: list[list[float]] = [[] for _ in apps]
    for _ in range(samples):
        for app, sink in zip(apps, times, strict=True):
            environs = [factory() for _ in range(batch)]
            start = time.thread_time_ns()
            for environ in environs:
                request(app, environ)
            sink.append((time.thread_time_ns() - start) / batch)
    return [statistics.median(values) for values in times]


def page_workload(coding: str) -> tuple[Workload, str, str]:
    from paste.gzipper import middleware as paste_gzip

    flask_bare, flask_compressed = flask_apps(PAGE, coding)
    raw = raw_gzip if coding == "gzip" else raw_brotli
    label = f"Compress ({coding})"
    candidates: dict[str, Any] = {
        "bare page app": page_app,
        f"raw codec ({coding})": raw,
        label: Compress(page_app),
    }
    if coding == "gzip":
        candidates["paste.gzipper"] = paste_gzip(page_app)
    candidates["Flask bare"] = flask_bare
    candidates["Flask + Compress"] = Compress(flask_bare)
    candidates["Flask + flask-compress"] = flask_compressed
    factory = make_environ("/", headers={"Accept-Encoding": coding})
    workload = Workload(
        f"100 KB HTML page, {coding}", factory, candidates, "bare page app", f"raw codec ({coding})"
    )
    return workload, label, f"raw codec ({coding})"


def main() -> None:
    lines: list[str] = []
    for coding in ("gzip", "br"):
        workload, label, raw = page_workload(coding)
        workload.run()
        workload.report()
        # Wall time per response (ns/req, the harness's median of interleaved rounds), and the
        # same ratios in CPU time of alternated requests, which other processes disturb less.
        wall = workload.results
        names = [label, raw, "Flask bare", "Flask + Compress", "Flask + flask-compress"]
        if "paste.gzipper" in wall:
            names.append("paste.gzipper")
        cpu = dict(
            zip(
                names,
                paired_cpu([workload.candidates[n] for n in names], workload.factory, 40),
                strict=True,
            )
        )
        for kind, t in (("wall", wall), ("CPU", cpu)):
            lines.append(
                check_ratio(f"{coding}: Compress / raw codec ({kind})", t[label] / t[raw], 1.05)
            )
            if "paste.gzipper" in t:
                lines.append(
                    check_ratio(
                        f"{coding}: Compress / paste.gzipper ({kind})",
                        t[label] / t["paste.gzipper"],
                        0.999,
                    )
                )
            flask = (t["Flask + Compress"] - t["Flask bare"]) / (
                t["Flask + flask-compress"] - t["Flask bare"]
            )
            lines.append(
                check_ratio(f"{coding}: Compress / flask-compress on Flask ({kind})", flask, 0.999)
            )

    from paste.gzipper import middleware as paste_gzip

    small = Workload(
        "13-byte body below min_size",
        make_environ("/", headers={"Accept-Encoding": "gzip, br"}),
        {
            "bare hello app": hello_app,
            "Compress": Compress(hello_app),
            "paste.gzipper": paste_gzip(hello_app),
        },
        "bare hello app",
        "paste.gzipper",
    )
    small.run()
    small.report()
    lines.append(
        check_ratio("13 B: Compress / paste.gzipper, overhead (wall)", small.ratio("Compress"), 0.1)
    )
    bare, ours, paste = paired_cpu(
        [hello_app, small.candidates["Compress"], small.candidates["paste.gzipper"]],
        small.factory,
        batch=200,
    )
    lines.append(
        check_ratio(
            "13 B: Compress / paste.gzipper, overhead (CPU)", (ours - bare) / (paste - bare), 0.1
        )
    )
    lines.append(f"13 B: Compress overhead {small.overhead('Compress') / 1000:.2f} µs per request")

    for coding in ("gzip", "br"):
        rss = subprocess.run(
            [sys.executable, "-m", "benchmarks.compress_rss", coding],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        lines.append(rss.stdout.strip())

    print("\n## goals (ratios against the anchors measured in this run)")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
