"""The full stack over HTTP: requests/s of a bare hello app and of the stack around it.

Each app is served by its own gunicorn (2 sync workers) on 127.0.0.1 and loaded with the
load generator of :mod:`benchmarks.static_http` (``wrk`` when it is on PATH, else its bounded
Python threads).  The stack is ``examples.full_stack.full_stack`` with the access log written
to a file (JSON lines), as a deployment would; the request is a plain ``GET /``.  Rounds
alternate bare and stack, so a busy moment of the machine hits both; the medians are printed
with the ratio (issue 11 goal: at least 0.9x the bare app's).

A third app is the floor of any stack that logs each request: the bare app plus one fixed
access record per request, made the cheapest way (a copy of a prototype record, see
``middlewares._log_records``) and written by the same kind of file handler.  Its ratio is the
most that any access logger built on :mod:`logging` can leave of the bare app's requests/s.

Run: ``python -m benchmarks.stack_http`` (BENCH_HTTP_SECONDS per measurement, default 4;
BENCH_HTTP_ROUNDS, default 3).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import file_logger, hello_app
from benchmarks.static_http import CONNECTIONS, ROUNDS, SECONDS, _python_load, _wrk
from middlewares._log_records import RecordMaker

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


# A JSON access line of the length the stack writes for this request.
_FLOOR_LINE = (
    '{"timestamp":"2026-01-01T00:00:00.000+00:00","http.request.method":"GET","url.path":"/",'
    '"url.scheme":"http","http.response.status_code":200,"http.response.body.size":13,'
    '"client.address":"127.0.0.1","network.protocol.version":"1.1","duration_ms":0.031,'
    '"request_id":"0123456789abcdef0123456789abcdef","outcome":"completed"}'
)


def _floor_app() -> Any:
    """The bare app plus one fixed access record per request, through a file handler."""
    root = os.environ.get("BENCH_STACK_ROOT")
    if not root:
        return None
    logger = file_logger("benchmarks.stack_http.floor", Path(root) / "floor.log")
    records = RecordMaker(logger, logging.INFO, __file__, ())

    def floor(environ: dict[str, Any], start_response: Any) -> Any:
        body = hello_app(environ, start_response)
        logger.handle(records.make(_FLOOR_LINE, records.blank()))
        return body

    return floor


bare_app = hello_app
stack_app = _stack_app()
floor_app = _floor_app()
FLOOR = "floor: bare + record"


def main() -> None:
    from tests.e2e.servers import serve

    load = _wrk if shutil.which("wrk") else _python_load
    print(f"load generator: {'wrk' if load is _wrk else 'Python threads'}, {CONNECTIONS} conns")
    apps = {"bare hello app": "bare_app", FLOOR: "floor_app", "full stack": "stack_app"}
    samples: dict[str, list[float]] = {label: [] for label in apps}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "static").mkdir()
        (Path(tmp) / "static" / "a.txt").write_text("static file\n")
        env = {"BENCH_STACK_ROOT": tmp}
        for _ in range(ROUNDS):
            for label, attr in apps.items():
                app = f"benchmarks.stack_http:{attr}"
                with serve(app, server="gunicorn", workers=2, threads=1, env=env) as base:
                    url = f"{base}/"
                    load(url, 1)  # warm up: imports, the first requests of each worker
                    samples[label].append(load(url, SECONDS))
        logged = (Path(tmp) / "access.log").read_text().count("\n")
    bare = statistics.median(samples["bare hello app"])
    ours = statistics.median(samples["full stack"])
    print(f"\n{'app':<22}{'req/s (median)':>16}   rounds")
    for label, values in samples.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{label:<22}{statistics.median(values):>16.0f}   {rounds}")
    print(f"access log lines written by the stack: {logged}")
    ratio = ours / bare
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(
        f"HTTP hello: full stack {ratio:.3f}x the bare app's requests/s "
        f"({verdict} the goal of >= {GOAL:.2f}x)"
    )
    floor = statistics.median(samples[FLOOR]) / bare
    print(
        f"  the floor, the bare app writing one access record per request: {floor:.3f}x of "
        f"the bare app; the full stack is {ours / bare / floor:.3f}x of the floor"
    )


if __name__ == "__main__":
    main()
