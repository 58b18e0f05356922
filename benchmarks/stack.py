"""The whole recommended stack against the anchor stack, in process, in the same run.

Ours is ``examples.full_stack.full_stack`` (ProxyFix, RequestLogger, CORS, Compress,
StaticFiles, Dispatcher, Profiler with ``sample_rate=0``); the anchor stack is what people
assemble from other projects: Werkzeug ``ProxyFix`` + Paste ``TransLogger`` + ``wsgicors.CORS``
+ ``paste.gzipper`` + Werkzeug ``DispatcherMiddleware``, in the same order, both loggers writing
to a file.  The request is what a browser sends through a proxy: ``X-Forwarded-*``, an allowed
``Origin``, ``Accept-Encoding``, a user agent.

Printed (issue 11 goals):

* hello app: our stack's overhead over the anchor stack's (goal: at most 0.25x);
* a 100 KB varied HTML page, gzip: our stack's time per response over (the raw codec on the
  same bytes + our hello overhead) (goal: at most 1.05x); br is printed too;
* one row per middleware: ours alone against its anchor alone (the workloads of the
  per-middleware benchmarks, imported from them).

Run from the project root: ``python -m benchmarks.stack`` (``BENCH_ROUNDS``/``BENCH_SECONDS`` as
in the harness).  :mod:`benchmarks.figures` runs the same workloads for the docs page.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import compress as compress_bench
from benchmarks import cors as cors_bench
from benchmarks import dispatch as dispatch_bench
from benchmarks import proxy_fix as proxy_fix_bench
from benchmarks import request_log as request_log_bench
from benchmarks import static as static_bench
from benchmarks.harness import Workload, check_ratio, hello_app, make_environ, request
from examples.full_stack import full_stack
from middlewares import stack

HELLO_GOAL = 0.25
PAGE_GOAL = 1.05
ORIGIN = "https://app.example"
BROWSER_HEADERS = {
    **proxy_fix_bench.X_HEADERS,
    "Origin": ORIGIN,
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml",
}
OURS = "middlewares full_stack"
ANCHOR = "anchor stack"
FLOOR = "floor: one log record + file write"


def anchor_stack(app: Any, logger: Any, mounts: dict[str, Any]) -> Any:
    """Werkzeug ProxyFix, TransLogger, wsgicors, paste.gzipper, DispatcherMiddleware, app."""
    from paste.gzipper import middleware as paste_gzip
    from paste.translogger import TransLogger
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.middleware.proxy_fix import ProxyFix as WerkzeugProxyFix
    from wsgicors import CORS as WsgiCORS

    inner = DispatcherMiddleware(app, mounts)
    inner = paste_gzip(inner)
    inner = WsgiCORS(
        inner,
        origin=ORIGIN,
        methods="GET, HEAD, POST, PUT",
        headers="x-custom",
        expose_headers="X-Request-ID",
    )
    inner = TransLogger(inner, logger=logger, setup_console_handler=False)
    return WerkzeugProxyFix(inner, **proxy_fix_bench.X_OPTIONS)


def ours_stack(app: Any, logger: Any, directory: Path) -> Any:
    return full_stack(app, static_dir=directory, mounts={"/api": hello_app}, logger=logger)


@dataclass
class Comparison:
    """One row of the figures: ``ours`` against ``anchor`` in ``workload``."""

    layer: str
    workload: Workload
    ours: str
    anchor: str

    def ours_us(self) -> float:
        return self.workload.overhead(self.ours) / 1000

    def anchor_us(self) -> float:
        return self.workload.overhead(self.anchor) / 1000

    def ratio(self) -> float:
        return self.workload.ratio(self.ours, self.anchor)


def stack_workloads(directory: Path) -> tuple[Workload, Workload, Workload]:
    """(hello, 100 KB page gzip, 100 KB page br), each with ours, the anchor and the bare app."""
    log = request_log_bench._file_logger
    mounts = {"/api": hello_app}
    hello = Workload(
        "stack: hello app, browser request through a proxy (gzip, br accepted)",
        make_environ("/", headers={**BROWSER_HEADERS, "Accept-Encoding": "gzip, br"}),
        {
            "bare hello app": hello_app,
            OURS: ours_stack(hello_app, log("stack_ours_hello", directory), directory),
            ANCHOR: anchor_stack(hello_app, log("stack_anchor_hello", directory), mounts),
            # What any stack that logs to a file pays at least (both stacks do), for scale.
            FLOOR: request_log_bench._floor(hello_app, log("stack_floor", directory)),
        },
        baseline="bare hello app",
        anchor=ANCHOR,
    )
    pages = []
    for coding, raw in (("gzip", compress_bench.raw_gzip), ("br", compress_bench.raw_brotli)):
        candidates: dict[str, Any] = {
            "bare page app": compress_bench.page_app,
            f"raw codec ({coding})": raw,
            OURS: ours_stack(
                compress_bench.page_app, log(f"stack_ours_{coding}", directory), directory
            ),
        }
        anchor = None
        if coding == "gzip":  # paste.gzipper speaks gzip only
            candidates[ANCHOR] = anchor_stack(
                compress_bench.page_app, log("stack_anchor_gzip", directory), mounts
            )
            anchor = ANCHOR
        pages.append(
            Workload(
                f"stack: 100 KB varied HTML page, {coding}",
                make_environ("/", headers={**BROWSER_HEADERS, "Accept-Encoding": coding}),
                candidates,
                baseline="bare page app",
                anchor=anchor,
            )
        )
    return hello, pages[0], pages[1]


def _layer_name(layer: Any) -> str:
    return str(getattr(getattr(layer, "func", layer), "__name__", repr(layer)))


def cumulative(directory: Path) -> Workload:
    """The hello request through the first 1, 2, ... 7 layers of the same full stack.

    Each row adds the next layer inwards, so the differences between rows say where the
    stack's overhead goes (a layer can cost more in the stack than alone: e.g. merging
    ``Vary`` when an inner layer already set it).
    """
    whole = ours_stack(
        hello_app, request_log_bench._file_logger("stack_layers", directory), directory
    )
    candidates: dict[str, Any] = {"bare hello app": hello_app}
    for count in range(1, len(whole.layers) + 1):
        label = ("+ " if count > 1 else "") + _layer_name(whole.layers[count - 1])
        candidates[label] = stack(hello_app, *whole.layers[:count])
    return Workload(
        "stack: where the hello overhead goes (each row adds the next layer inwards)",
        make_environ("/", headers={**BROWSER_HEADERS, "Accept-Encoding": "gzip, br"}),
        candidates,
        baseline="bare hello app",
    )


def per_middleware(directory: Path) -> list[Comparison]:
    """Each of our middlewares alone against its anchor alone, on the hello app (or a file)."""
    from paste.gzipper import middleware as paste_gzip
    from werkzeug.middleware.profiler import ProfilerMiddleware
    from werkzeug.middleware.proxy_fix import ProxyFix as WerkzeugProxyFix
    from wsgicors import CORS as WsgiCORS

    from middlewares import CORS, Compress, ProxyFix
    from middlewares.profiler import Profiler

    bare = "bare hello app"
    rows = [
        Comparison(
            "ProxyFix",
            Workload(
                "ProxyFix vs Werkzeug ProxyFix (4 X-Forwarded headers)",
                make_environ("/", headers=proxy_fix_bench.X_HEADERS),
                {
                    bare: hello_app,
                    "ours": ProxyFix(hello_app, **proxy_fix_bench.X_OPTIONS),
                    "anchor": WerkzeugProxyFix(hello_app, **proxy_fix_bench.X_OPTIONS),
                },
                bare,
                "anchor",
            ),
            "ours",
            "anchor",
        )
    ]
    logged = request_log_bench._candidates(hello_app, directory, bare)
    rows.append(
        Comparison(
            "RequestLogger",
            Workload(
                "RequestLogger (combined, to a file) vs Paste TransLogger",
                make_environ("/articles", headers={"User-Agent": "bench", "Referer": "/"}),
                {
                    bare: hello_app,
                    "ours": logged["RequestLogger combined"],
                    "anchor": logged["paste TransLogger"],
                },
                bare,
                "anchor",
            ),
            "ours",
            "anchor",
        )
    )
    # The CORS benchmark's workload: a new allowed origin each request, one pattern each side.
    rows.append(
        Comparison(
            "CORS",
            Workload(
                "CORS vs wsgicors (simple GET, new allowed origin each request)",
                cors_bench.varying_origin(make_environ("/api/items")),
                {
                    bare: hello_app,
                    "ours": CORS(
                        hello_app,
                        allow_origin_regex=r"https://[a-z0-9-]+\.example\.com",
                        allow_methods=["GET", "PUT"],
                        allow_credentials=True,
                        expose_headers=["X-Id"],
                    ),
                    "anchor": WsgiCORS(
                        hello_app,
                        origin="https://*.example.com",
                        methods="GET, PUT",
                        expose_headers="X-Id",
                        credentials="true",
                    ),
                },
                bare,
                "anchor",
            ),
            "ours",
            "anchor",
        )
    )
    page = compress_bench.page_app
    rows.append(
        Comparison(
            "Compress",
            Workload(
                "Compress vs paste.gzipper (100 KB HTML page, gzip)",
                make_environ("/", headers={"Accept-Encoding": "gzip"}),
                {"bare page app": page, "ours": Compress(page), "anchor": paste_gzip(page)},
                "bare page app",
                "anchor",
            ),
            "ours",
            "anchor",
        )
    )
    static_bench.make_tree(directory)
    files = static_bench.candidates(directory)
    rows.append(
        Comparison(
            "StaticFiles",
            Workload(
                "StaticFiles vs WhiteNoise (1 KB file, 200; whole request)",
                make_environ("/static/page.txt"),
                {"ours": files["StaticFiles"], "anchor": files["WhiteNoise"]},
                None,
                "anchor",
            ),
            "ours",
            "anchor",
        )
    )
    dispatch, _ = dispatch_bench.workload(3)
    rows.append(
        Comparison(
            "Dispatcher",
            dispatch,
            "middlewares Dispatcher",
            "werkzeug DispatcherMiddleware",
        )
    )
    rows.append(
        Comparison(
            "Profiler",
            Workload(
                "Profiler sample_rate=0 vs Werkzeug ProfilerMiddleware",
                make_environ("/"),
                {
                    bare: hello_app,
                    "ours": Profiler(hello_app, sample_rate=0.0),
                    "anchor": ProfilerMiddleware(hello_app, stream=io.StringIO()),
                },
                bare,
                "anchor",
            ),
            "ours",
            "anchor",
        )
    )
    return rows


COLD_BARE = "a br response, then the bare hello app"
COLD_OURS = "a br response, then the full stack's hello"


def after_a_page(app: Any, page_environ: Any) -> Any:
    """``app``, each request of which comes right after the raw codec compressed the page."""

    def run(environ: dict[str, Any], start_response: Any) -> Any:
        request(compress_bench.raw_brotli, page_environ())  # caches left as a br page leaves them
        return app(environ, start_response)

    return run


def cold(directory: Path) -> Workload:
    """The hello request through our stack right after a 100 KB br response (cold caches).

    The page goal adds the *warm* hello overhead to the codec's time, but in a page response the
    stack's code runs after brotli has filled the CPU caches with its own state.  This workload
    measures what the stack costs then: the difference of its two rows.
    """
    page_environ = make_environ("/", headers={**BROWSER_HEADERS, "Accept-Encoding": "br"})
    ours = ours_stack(hello_app, request_log_bench._file_logger("stack_cold", directory), directory)
    return Workload(
        "stack: hello right after a 100 KB br response (cold caches)",
        make_environ("/", headers={**BROWSER_HEADERS, "Accept-Encoding": "gzip, br"}),
        {
            COLD_BARE: after_a_page(hello_app, page_environ),
            COLD_OURS: after_a_page(ours, page_environ),
        },
        baseline=COLD_BARE,
    )


def page_ratio(page: Workload, hello: Workload, coding: str) -> float:
    """Our stack's time per page over (the raw codec's time + our stack's hello overhead)."""
    r = page.results
    return r[OURS] / (r[f"raw codec ({coding})"] + hello.overhead(OURS))


def goals(hello: Workload, gzip_page: Workload, br_page: Workload) -> list[str]:
    return [
        check_ratio("hello: full stack overhead / anchor stack overhead", hello.ratio(OURS), 0.25),
        check_ratio(
            "100 KB gzip: full stack / (raw codec + hello overhead)",
            page_ratio(gzip_page, hello, "gzip"),
            PAGE_GOAL,
        ),
        check_ratio(
            "100 KB br: full stack / (raw codec + hello overhead)",
            page_ratio(br_page, hello, "br"),
            PAGE_GOAL,
        ),
        f"hello: full stack overhead {hello.overhead(OURS) / 1000:.1f} µs, anchor stack "
        f"{hello.overhead(ANCHOR) / 1000:.1f} µs per request; both include writing one log "
        f"line to a file, which alone costs {hello.overhead(FLOOR) / 1000:.1f} µs",
    ]


def cold_lines(hello: Workload, cold_hello: Workload, br_page: Workload) -> list[str]:
    """What the stack costs after brotli ran, and the br ratio with that cost instead."""
    cold_us = cold_hello.overhead(COLD_OURS)
    r = br_page.results
    return [
        f"hello overhead with cold caches (right after a br response): {cold_us / 1000:.1f} µs, "
        f"{cold_us / hello.overhead(OURS):.2f}x the warm {hello.overhead(OURS) / 1000:.1f} µs",
        f"100 KB br: full stack / (raw codec + cold hello overhead): "
        f"{r[OURS] / (r['raw codec (br)'] + cold_us):.2f}x (for scale; the goal uses the warm one)",
    ]


def close_loggers() -> None:
    """Close the file handlers the workloads opened (their files live in a temporary dir)."""
    import logging

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("benchmarks.request_log."):
            logger = logging.getLogger(name)
            for handler in logger.handlers:
                handler.close()
            logger.handlers.clear()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        hello, gzip_page, br_page = stack_workloads(directory)
        cold_hello = cold(directory)
        rows = per_middleware(directory)
        for workload in (hello, gzip_page, br_page, cold_hello, cumulative(directory)):
            workload.run()
            workload.report()
        for row in rows:
            row.workload.run()
        close_loggers()
    print("\n## each middleware alone vs its anchor alone (overhead, µs per request)")
    print(f"{'middleware':<15}{'ours':>10}{'anchor':>10}{'ratio':>9}  workload")
    for row in rows:
        print(
            f"{row.layer:<15}{row.ours_us():>10.2f}{row.anchor_us():>10.2f}"
            f"{row.ratio():>8.2f}x  {row.workload.name}"
        )
    print("\n## goals (ratios against the anchors measured in this run)")
    for line in goals(hello, gzip_page, br_page) + cold_lines(hello, cold_hello, br_page):
        print(line)


if __name__ == "__main__":
    main()
