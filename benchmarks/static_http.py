"""StaticFiles against WhiteNoise over HTTP: gunicorn, 2 workers, a load generator on 127.0.0.1.

For a 1 KB and a 1 MB file, each app is served by its own gunicorn (2 sync workers, so the
1 MB body goes out by sendfile) and loaded with ``wrk`` when it is on PATH, else with a small
bounded Python load generator (threads, one connection per request).  The rounds alternate
StaticFiles and WhiteNoise, so a busy moment of the machine hits both; the median of the
rounds is printed with the ratio (issue 5 goal: at least 1.0x WhiteNoise's requests/s).

Run: ``python -m benchmarks.static_http`` (BENCH_HTTP_SECONDS per measurement, default 4;
BENCH_HTTP_ROUNDS, default 3).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "3"))
CONNECTIONS = 8
FILES = {"1 KB": ("page.txt", 1024), "1 MB": ("big.bin", 1024 * 1024)}


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def _apps() -> tuple[Any, Any]:
    """The two apps gunicorn imports (the directory comes from BENCH_STATIC_ROOT)."""
    root = os.environ.get("BENCH_STATIC_ROOT")
    if not root:
        return None, None
    from whitenoise import WhiteNoise

    from middlewares.static import StaticFiles

    return (
        StaticFiles(_not_found, directories={"/static": root}),
        WhiteNoise(_not_found, root=root, prefix="/static", max_age=60),
    )


staticfiles_app, whitenoise_app = _apps()


def _wrk(url: str, seconds: float) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))


def _python_load(url: str, seconds: float) -> float:
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, path = port_path.split("/", 1)
    deadline = time.monotonic() + seconds
    counts = [0] * CONNECTIONS

    def worker(index: int) -> None:
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                connection.request("GET", "/" + path)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url}: {response.status}")
            finally:
                connection.close()
            counts[index] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    from tests.e2e.servers import serve

    load = _wrk if shutil.which("wrk") else _python_load
    print(f"load generator: {'wrk' if load is _wrk else 'Python threads'}, {CONNECTIONS} conns")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, size in FILES.values():
            (root / name).write_bytes(os.urandom(size))
        env = {"BENCH_STATIC_ROOT": str(root)}
        samples: dict[tuple[str, str], list[float]] = {}
        for label in ("StaticFiles", "WhiteNoise"):
            for key in FILES:
                samples[(label, key)] = []
        for _ in range(ROUNDS):
            for label, attr in (
                ("StaticFiles", "staticfiles_app"),
                ("WhiteNoise", "whitenoise_app"),
            ):
                app = f"benchmarks.static_http:{attr}"
                with serve(app, server="gunicorn", workers=2, threads=1, env=env) as base:
                    for key, (name, _size) in FILES.items():
                        url = f"{base}/static/{name}"
                        load(url, 1)  # warm up: page cache, imports, the index
                        samples[(label, key)].append(load(url, SECONDS))
    print(f"\n{'file':<8}{'StaticFiles req/s':>20}{'WhiteNoise req/s':>20}{'ratio':>9}")
    for key in FILES:
        ours = statistics.median(samples[("StaticFiles", key)])
        theirs = statistics.median(samples[("WhiteNoise", key)])
        print(f"{key:<8}{ours:>20.0f}{theirs:>20.0f}{ours / theirs:>8.2f}x")
    for key in FILES:
        ratio = statistics.median(samples[("StaticFiles", key)]) / statistics.median(
            samples[("WhiteNoise", key)]
        )
        verdict = "meets" if ratio >= 1.0 else "MISSES"
        print(f"HTTP {key}: {ratio:.2f}x WhiteNoise's requests/s ({verdict} the goal of >= 1.00x)")


if __name__ == "__main__":
    main()
