"""StaticFiles against WhiteNoise in process: the same files, the same run, interleaved rounds.

Workloads (issue 5 goals, as time ratios against WhiteNoise; lower is better):

    1 KB file, 200                       at most 0.80x
    1 KB file, 304 (If-None-Match)       at most 1.00x
    1 MB file, wsgi.file_wrapper         at most 1.00x

The 1 MB workload runs twice: once with wsgiref's ``FileWrapper`` iterated in Python (a server
without sendfile), once with a wrapper that is not iterated (what gunicorn's sendfile does:
the bytes never enter Python), which isolates the per-request cost.  Each request's ``ns/req``
is the whole request (no baseline is subtracted: the wrapped app is never reached).

Run: ``python -m benchmarks.static`` (BENCH_ROUNDS, BENCH_SECONDS as in the harness).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

from benchmarks.harness import Workload, check_ratio, hello_app, make_environ
from middlewares.static import StaticFiles

App = Callable[..., Any]


class SendfileWrapper:
    """A ``wsgi.file_wrapper`` the way a sendfile server treats it: the file is not read."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        self.filelike.close()


def make_tree(directory: Path) -> None:
    (directory / "page.txt").write_bytes(b"x" * 1024)
    (directory / "big.bin").write_bytes(os.urandom(1024 * 1024))


def candidates(directory: Path) -> dict[str, App]:
    from whitenoise import WhiteNoise

    return {
        "StaticFiles": StaticFiles(hello_app, directories={"/static": directory}),
        "WhiteNoise": WhiteNoise(hello_app, root=str(directory), prefix="/static", max_age=60),
    }


def _with_header(app: App, key: str, value: str) -> App:
    """Add one request header (each candidate's own ETag); the same cost for every candidate."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[key] = value
        return app(environ, start_response)

    return wrapped


def _status(app: App, environ: dict[str, Any]) -> tuple[str, int, dict[str, str]]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, dict(headers)
        return lambda data: None

    body = app(environ, start_response)
    size = sum(len(chunk) for chunk in body)
    getattr(body, "close", lambda: None)()
    return seen["status"], size, seen["headers"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_tree(directory)
        apps = candidates(directory)
        results = []

        page = make_environ("/static/page.txt")
        for label, app in apps.items():  # sanity: every candidate really serves the file
            status, size, _ = _status(app, page())
            print(f"check {label}: /static/page.txt -> {status}, {size} bytes")
        ok = Workload("static: 1 KB file, 200", page, dict(apps), anchor="WhiteNoise")
        results.append((ok, 0.8))

        revalidate: dict[str, App] = {}
        for label, app in apps.items():
            etag = _status(app, page())[2]["ETag"]
            revalidate[label] = _with_header(app, "HTTP_IF_NONE_MATCH", etag)
            status, size, _ = _status(revalidate[label], page())
            print(f"check {label}: If-None-Match -> {status}, {size} bytes")
        not_modified = Workload("static: 1 KB file, 304", page, revalidate, anchor="WhiteNoise")
        results.append((not_modified, 1.0))

        for wrapper, name in ((FileWrapper, "iterated"), (SendfileWrapper, "sendfile-like")):
            big = make_environ("/static/big.bin", **{"wsgi.file_wrapper": wrapper})
            for label, app in apps.items():
                status, size, _ = _status(app, big())
                print(f"check {label}: /static/big.bin ({name}) -> {status}, {size} bytes")
            workload = Workload(
                f"static: 1 MB file, file_wrapper {name}", big, dict(apps), anchor="WhiteNoise"
            )
            results.append((workload, 1.0))

        for workload, _ in results:
            workload.run()
            workload.report()
        print()
        for workload, goal in results:
            print(check_ratio(workload.name, workload.ratio("StaticFiles"), goal))


if __name__ == "__main__":
    main()
