"""The benchmark harness every benchmark uses: an in-process WSGI driver and interleaved rounds.

A benchmark prints figures; it asserts nothing (tests assert behaviour).  Each workload is timed
for every candidate in interleaved rounds (candidate A, B, C, then A, B, C again ...), so a
slow moment of the machine hits all of them alike, and the median of the rounds is reported:

    ns/req      median wall time of one request (fresh environ, iterate the body, close)
    overhead    ns/req minus the bare app's ns/req measured in the same run
    vs anchor   this candidate's overhead divided by the anchor's overhead (lower is better)

Run a benchmark as a module from the project root, e.g. ``python -m benchmarks.core``.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Environ = dict[str, Any]
App = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))  # median of at least 5
TARGET_SECONDS = float(os.environ.get("BENCH_SECONDS", "0.05"))  # per candidate per round


def make_environ(
    path: str = "/",
    *,
    method: str = "GET",
    query: str = "",
    headers: dict[str, str] | None = None,
    remote_addr: str = "127.0.0.1",
    **extra: Any,
) -> Callable[[], Environ]:
    """A factory giving a fresh, complete PEP 3333 environ per call (middlewares mutate it)."""
    template: Environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "bench.local",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr,
        "HTTP_HOST": "bench.local",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        template[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    template.update(extra)

    def factory() -> Environ:
        env = template.copy()
        env["wsgi.input"] = io.BytesIO(b"")
        return env

    return factory


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return _discard


def _discard(data: bytes) -> None:
    pass


def request(app: App, environ: Environ) -> int:
    """One request as a server makes it: call, iterate, close.  Returns the body's size."""
    body = app(environ, _start_response)
    size = 0
    try:
        for chunk in body:
            size += len(chunk)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return size


def _time(app: App, factory: Callable[[], Environ], n: int) -> float:
    environs = [factory() for _ in range(n)]
    clock = time.perf_counter_ns
    start = clock()
    for env in environs:
        request(app, env)
    return (clock() - start) / n


@dataclass
class Workload:
    """One workload: the same request against a baseline, candidates, and an anchor."""

    name: str
    factory: Callable[[], Environ]
    candidates: dict[str, App]
    baseline: str | None = None  # label whose time is subtracted to give overhead
    anchor: str | None = None  # label every other candidate is compared with
    results: dict[str, float] = field(default_factory=dict)

    def run(self, rounds: int = ROUNDS) -> dict[str, float]:
        counts = {label: _calibrate(app, self.factory) for label, app in self.candidates.items()}
        samples: dict[str, list[float]] = {label: [] for label in self.candidates}
        for _ in range(max(rounds, 5)):
            for label, app in self.candidates.items():
                samples[label].append(_time(app, self.factory, counts[label]))
        self.results = {label: statistics.median(values) for label, values in samples.items()}
        return self.results

    def overhead(self, label: str) -> float:
        base = self.results[self.baseline] if self.baseline else 0.0
        return self.results[label] - base

    def ratio(self, label: str, against: str | None = None) -> float:
        """``label``'s overhead over ``against``'s (default: the anchor)."""
        other = against or self.anchor
        if other is None:
            return float("nan")
        denominator = self.overhead(other)
        return self.overhead(label) / denominator if denominator > 0 else float("inf")

    def report(self, out: Any = None) -> None:
        out = out or sys.stdout
        print(f"\n## {self.name}", file=out)
        print(f"{'candidate':<34}{'ns/req':>12}{'overhead':>12}{'vs anchor':>11}", file=out)
        for label in self.candidates:
            ns = self.results[label]
            over = self.overhead(label) if self.baseline else float("nan")
            if self.anchor and label not in (self.anchor, self.baseline):
                vs = f"{self.ratio(label):>10.2f}x"
            elif label == self.anchor:
                vs = f"{'anchor':>11}"
            else:
                vs = f"{'':>11}"
            over_s = f"{over:>12.0f}" if label != self.baseline else f"{'(bare)':>12}"
            print(f"{label:<34}{ns:>12.0f}{over_s}{vs}", file=out)


def _calibrate(app: App, factory: Callable[[], Environ]) -> int:
    """How many requests fill TARGET_SECONDS (at least 20)."""
    n = 20
    while True:
        elapsed = _time(app, factory, n) * n / 1e9
        if elapsed >= TARGET_SECONDS / 4 or n >= 1_000_000:
            return max(20, int(n * TARGET_SECONDS / max(elapsed, 1e-9)))
        n *= 4


def hello_app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
    """The bare app every overhead is measured against."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


def check_ratio(label: str, value: float, goal: float) -> str:
    """A line that prints a ratio and whether it met the issue's goal (a figure, not a test)."""
    verdict = "meets" if value <= goal else "MISSES"
    return f"{label}: {value:.2f}x ({verdict} the goal of at most {goal:.2f}x)"


def file_logger(name: str, path: str | os.PathLike[str]) -> Any:
    """A logger of its own writing bare messages (access lines) to ``path``, not propagated."""
    import logging

    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger
