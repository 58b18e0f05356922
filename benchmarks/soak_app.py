"""The application :mod:`benchmarks.soak` serves: the full stack around a small site.

``SOAK_ROOT`` names a directory holding ``static/`` (made by :func:`make_static`) and receiving
the access logs, one JSON-lines file per server process (``access-<pid>.log``), so processes
never share a file.  Routes of the inner app:

    /page        a 40 KB varied HTML page (compressible), with Content-Length
    /sse         text/event-stream, SSE_EVENTS events 10 ms apart
    /stream      a 2 MB streamed text body in 32 KB chunks (clients drop it midway)
    /app-error   a 503 the application itself returns (the only 5xx the soak accepts)
    /            hello
    /api/...     a mounted app answering its SCRIPT_NAME and PATH_INFO as JSON

Everything else is the stack's: static files under /static, CORS preflights, compression.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.compress import varied_page
from benchmarks.harness import file_logger, hello_app

PAGE = varied_page(40_000, seed=11)
SSE_EVENTS = 5
STREAM_CHUNK = b"streamed line of a long text body that compresses well, " * 585  # ~32 KB
STREAM_CHUNKS = 64
ERROR_BODY = b"the application says: service unavailable\n"
ORIGIN = "https://app.example"


def sse_body() -> bytes:
    """The whole event stream /sse sends."""
    return b"".join(f"id: {i}\ndata: event {i}\n\n".encode() for i in range(SSE_EVENTS))


def static_files() -> dict[str, bytes]:
    """Name to content of every file in the static directory (deterministic)."""
    rng = random.Random(7)
    css = "".join(
        f".c{i} {{ margin: {i % 17}px; color: #{rng.randrange(16**6):06x}; }}\n" for i in range(900)
    )
    js = "".join(
        f"function f{i}(a) {{ return a * {i} + {rng.randrange(1000)}; }}\n" for i in range(600)
    )
    return {
        "a.txt": b"a small text file\n" * 40,
        "style.css": css.encode(),
        "app.js": js.encode(),
        "blob.bin": rng.randbytes(256 * 1024),
        "big.bin": rng.randbytes(1024 * 1024),
    }


def make_static(directory: Path) -> None:
    """Write :func:`static_files` into ``directory``, with a precompressed twin of app.js."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in static_files().items():
        (directory / name).write_bytes(data)
    (directory / "app.js.gz").write_bytes(gzip.compress(static_files()["app.js"]))


def _sse() -> Iterator[bytes]:
    for i in range(SSE_EVENTS):
        if i:
            time.sleep(0.01)
        yield f"id: {i}\ndata: event {i}\n\n".encode()


def _stream() -> Iterator[bytes]:
    for _ in range(STREAM_CHUNKS):
        yield STREAM_CHUNK
        time.sleep(0.001)


def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/page":
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))],
        )
        return [PAGE]
    if path == "/sse":
        start_response(
            "200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
        )
        return _sse()
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return _stream()
    if path == "/app-error":
        start_response(
            "503 Service Unavailable",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(ERROR_BODY)))],
        )
        return [ERROR_BODY]
    return hello_app(environ, start_response)


def api(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps(
        {"script_name": environ.get("SCRIPT_NAME", ""), "path_info": environ.get("PATH_INFO", "")}
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _application() -> Any:
    root = os.environ.get("SOAK_ROOT")
    if not root:
        return None
    from examples.full_stack import full_stack

    logger = file_logger("benchmarks.soak.access", Path(root) / f"access-{os.getpid()}.log")
    return full_stack(
        site,
        static_dir=Path(root) / "static",
        mounts={"/api": api},
        allow_origins=(ORIGIN,),
        logger=logger,
        log_format="json",
    )


application = _application()
