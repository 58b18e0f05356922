"""Peak RSS growth while 1 GB streams through Compress; run in its own process.

``python -m benchmarks.compress_rss gzip`` (or ``br``) prints one line.  The peak resident set
(``VmHWM`` in ``/proc/self/status``, else ``ru_maxrss``) is read after warming up and again
after the whole stream, so the growth is what the stream itself cost, not the interpreter.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from typing import Any

from middlewares.compress import Compress

TOTAL = 1 << 30  # 1 GiB
CHUNK = 64 * 1024


def peak_rss_kib() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def stream_app(total: int) -> Any:
    """An app streaming ``total`` bytes of text in 64 KiB chunks, generated as it goes."""
    line = b"event 00000000: the quick brown fox jumps over the lazy dog; lorem ipsum dolor\n"

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        block = bytearray((line * (CHUNK // len(line) + 1))[:CHUNK])
        for index in range(total // CHUNK):
            block[6:14] = b"%08d" % index  # every chunk differs a little
            yield bytes(block)

    return app


def run(coding: str, total: int) -> tuple[int, float]:
    """Stream ``total`` bytes through Compress as a server would; (bytes sent, seconds)."""
    environ = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT_ENCODING": coding}
    body = Compress(stream_app(total))(environ, lambda status, headers, exc_info=None: None)
    sent = 0
    start = time.perf_counter()
    try:
        for piece in body:
            sent += len(piece)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return sent, time.perf_counter() - start


def main() -> None:
    coding = sys.argv[1] if len(sys.argv) > 1 else "gzip"
    run(coding, 8 * CHUNK)  # warm up: codec tables, first allocations
    before = peak_rss_kib()
    sent, seconds = run(coding, TOTAL)
    growth = (peak_rss_kib() - before) / 1024
    verdict = "meets" if growth < 20 else "MISSES"
    print(
        f"1 GB stream, {coding}: peak RSS growth {growth:.1f} MB ({verdict} the goal of under "
        f"20 MB); {TOTAL / 2**20:.0f} MiB -> {sent / 2**20:.1f} MiB in {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
