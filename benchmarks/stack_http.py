"""The full stack over HTTP: requests/s of a bare hello app and of the stack around it.

Each app is served by its own gunicorn (2 sync workers) on 127.0.0.1 and loaded with the
load generator of :mod:`benchmarks.static_http` (``wrk`` when it is on PATH, else its bounded
Python threads).  The stack is ``examples.full_stack.full_stack`` with the access log written
to a file (JSON lines), as a deployment would; the request is a plain ``GET /``.  Rounds
alternate bare and stack, so a busy moment of the machine hits both; the medians are printed
with the ratio (issue 11 goal: at least 0.9x the bare app's).

Run: ``python -m benchmarks.stack_http`` (BENCH_HTTP_SECONDS per measurement, default 4;
BENCH_HTTP_ROUNDS, default 3).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import file_logger, hello_app
from benchmarks.static_http import CONNECTIONS, ROUNDS, SECONDS, _python_load, _wrk

GOAL = 0.9


def _stack_app() -> Any:
    """The app gunicorn imports (static dir and log file come from the environment)."""
    root = os.environ.get("BENCH_STACK_ROOT")
    if not root:
        return None
    from examples.full_stack import full_stack

    logger = file_logger("benchmarks.stack_http.access", Path(root) / "access.log")
    return full_stack(
        hello_app,
        static_dir=Path(root) / "static",
        mounts={"/api": hello_app},
        logger=logger,
        log_format="json",
    )


bare_app = hello_app
stack_app = _stack_app()


def main() -> None:
    from tests.e2e.servers import serve

    load = _wrk if shutil.which("wrk") else _python_load
    print(f"load generator: {'wrk' if load is _wrk else 'Python threads'}, {CONNECTIONS} conns")
    samples: dict[str, list[float]] = {"bare hello app": [], "full stack": []}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "static").mkdir()
        (Path(tmp) / "static" / "a.txt").write_text("static file\n")
        env = {"BENCH_STACK_ROOT": tmp}
        for _ in range(ROUNDS):
            for label, attr in (("bare hello app", "bare_app"), ("full stack", "stack_app")):
                app = f"benchmarks.stack_http:{attr}"
                with serve(app, server="gunicorn", workers=2, threads=1, env=env) as base:
                    url = f"{base}/"
                    load(url, 1)  # warm up: imports, the first requests of each worker
                    samples[label].append(load(url, SECONDS))
        logged = (Path(tmp) / "access.log").read_text().count("\n")
    bare = statistics.median(samples["bare hello app"])
    ours = statistics.median(samples["full stack"])
    print(f"\n{'app':<18}{'req/s (median)':>16}   rounds")
    for label, values in samples.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{label:<18}{statistics.median(values):>16.0f}   {rounds}")
    print(f"access log lines written by the stack: {logged}")
    ratio = ours / bare
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(
        f"HTTP hello: full stack {ratio:.3f}x the bare app's requests/s "
        f"({verdict} the goal of >= {GOAL:.2f}x)"
    )


if __name__ == "__main__":
    main()
