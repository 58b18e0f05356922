"""Profiler against Werkzeug's ProfilerMiddleware, measured in the same run.

Two workloads (``python -m benchmarks.profiler``):

* a request that is not sampled (``sample_rate=0``, with and without a trigger configured)
  against Werkzeug's profiled request: the goal is an overhead under 0.05x of Werkzeug's;
* a profiled request on a handler answering 200 JSON rows, both middlewares writing the text
  summary to a StringIO and a ``.prof`` file into a temporary directory: the goal is at most
  1.0x of Werkzeug's overhead.

Werkzeug's default file name repeats within a second, so it overwrites its own files; on ext4
truncating a file forces its data to disk on close (``auto_da_alloc``), which costs
milliseconds.  A second Werkzeug row with unique names (a ``filename_format`` callable) shows
its cost without that penalty, and the ratio against it is printed too.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from benchmarks.harness import Workload, check_ratio, hello_app, make_environ
from middlewares.profiler import Profiler

TOKEN = "benchmark-token-0123456789"


def json_rows_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A small API handler: build 200 rows, serialise them."""
    rows = [
        {"id": i, "name": f"item {i}", "price": i * 1.25, "tags": ["a", "b"]} for i in range(200)
    ]
    body = json.dumps(rows).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def main() -> None:
    try:
        from werkzeug.middleware.profiler import ProfilerMiddleware
    except ImportError:  # the bench extra is not installed
        print("werkzeug is not installed: nothing to compare with")
        return
    work_dir = tempfile.mkdtemp(prefix="bench-profiler-")
    ours_dir = tempfile.mkdtemp(dir=work_dir)
    theirs_dir = tempfile.mkdtemp(dir=work_dir)
    unique_dir = tempfile.mkdtemp(dir=work_dir)
    serial = itertools.count()
    try:
        unsampled = Workload(
            "profiler: a request not sampled (hello app)",
            make_environ("/"),
            {
                "bare hello app": hello_app,
                "Profiler sample_rate=0": Profiler(hello_app, sample_rate=0.0),
                "Profiler sample_rate=0 + trigger": Profiler(
                    hello_app, sample_rate=0.0, trigger="X-Profile", viewer_token=TOKEN
                ),
                "werkzeug ProfilerMiddleware": ProfilerMiddleware(hello_app, stream=io.StringIO()),
            },
            baseline="bare hello app",
            anchor="werkzeug ProfilerMiddleware",
        )
        unsampled.run()
        unsampled.report()

        profiled = Workload(
            "profiler: a profiled request (200-row JSON handler, summary + .prof file)",
            make_environ("/api/items"),
            {
                "bare JSON app": json_rows_app,
                "Profiler": Profiler(json_rows_app, stream=io.StringIO(), profile_dir=ours_dir),
                "werkzeug ProfilerMiddleware": ProfilerMiddleware(
                    json_rows_app,
                    stream=io.StringIO(),
                    sort_by=("cumulative", "calls"),
                    restrictions=(30,),
                    profile_dir=theirs_dir,
                ),
                "werkzeug, unique file names": ProfilerMiddleware(
                    json_rows_app,
                    stream=io.StringIO(),
                    sort_by=("cumulative", "calls"),
                    restrictions=(30,),
                    profile_dir=unique_dir,
                    filename_format=lambda environ: f"GET.api.items.{next(serial)}.prof",
                ),
            },
            baseline="bare JSON app",
            anchor="werkzeug ProfilerMiddleware",
        )
        profiled.run()
        profiled.report()

        print()
        for label in ("Profiler sample_rate=0", "Profiler sample_rate=0 + trigger"):
            print(check_ratio(f"not sampled, {label}", unsampled.ratio(label), 0.05))
        print(check_ratio("profiled request, Profiler", profiled.ratio("Profiler"), 1.0))
        unique = profiled.ratio("Profiler", "werkzeug, unique file names")
        print(check_ratio("profiled request, Profiler vs werkzeug with unique names", unique, 1.0))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
