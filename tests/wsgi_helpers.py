"""Shared test helpers: apps of every body form, close() counters, a validating driver."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults
from wsgiref.validate import validator

HELLO = b"Hello, world!"


class Body:
    """An iterable body that counts close() calls; optionally raises at a chunk or in close()."""

    def __init__(
        self, chunks: Iterable[bytes], *, raise_at: int | None = None, close_raises: bool = False
    ) -> None:
        self.chunks = chunks
        self.raise_at = raise_at
        self.close_raises = close_raises
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.raise_at:
                raise ValueError("boom while iterating")
            yield chunk

    def close(self) -> None:
        self.closed += 1
        if self.close_raises:
            raise OSError("boom in close")


class TrackedFile(io.BytesIO):
    """A file whose close() calls are counted and which has a real fileno when backed by one."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.close_calls = 0

    def close(self) -> None:
        self.close_calls += 1
        super().close()


def make_app(
    form: str,
    chunks: list[bytes],
    *,
    status: str = "200 OK",
    headers: list[tuple[str, str]] | None = None,
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """An app that answers with ``chunks`` in body form ``form``; returns (app, record)."""
    record: dict[str, Any] = {"body": None}
    hdrs = headers if headers is not None else [("Content-Type", "text/plain")]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if form == "list":
            start_response(status, list(hdrs))
            body = Body(chunks)
        elif form == "generator":
            body = Body(_lazy_start(start_response, status, hdrs, chunks))
        elif form == "write":
            write = start_response(status, list(hdrs))
            for chunk in chunks:
                write(chunk)
            body = Body([])
        elif form == "file_wrapper":
            start_response(status, list(hdrs))
            f = TrackedFile(b"".join(chunks))
            record["file"] = f
            wrapped = environ["wsgi.file_wrapper"](f, 4)
            record["body"] = wrapped
            return wrapped
        else:  # pragma: no cover - a typo in a test
            raise ValueError(form)
        record["body"] = body
        return body

    return app, record


def _lazy_start(
    start_response: Callable[..., Any],
    status: str,
    headers: list[tuple[str, str]],
    chunks: list[bytes],
) -> Iterator[bytes]:
    start_response(status, list(headers))
    yield from chunks


def closes(record: dict[str, Any]) -> int:
    """How many times the app's body (or its file) was closed."""
    if "file" in record:
        return int(record["file"].close_calls)
    return int(record["body"].closed)


class Result:
    status: str = ""
    headers: list[tuple[str, str]]
    body: bytes = b""
    server_body: Any = None


def drive(
    app: Callable[..., Any],
    *,
    environ: dict[str, Any] | None = None,
    stop_after: int | None = None,
    validate: bool = True,
) -> Result:
    """Run ``app`` as a server would, through ``wsgiref.validate``; close the body always.

    ``stop_after=N`` reads N chunks and then closes, as a server does when the client goes away.
    """
    env: dict[str, Any] = {"wsgi.file_wrapper": FileWrapper, "QUERY_STRING": ""}
    setup_testing_defaults(env)
    env.update(environ or {})
    result = Result()
    result.headers = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info and any(written):  # headers go out with the first non-empty chunk
            raise exc_info[1].with_traceback(exc_info[2])
        result.status = status
        result.headers = headers
        return written.append

    runner = validator(app) if validate else app
    body = runner(env, start_response)
    result.server_body = body
    try:
        iterator = iter(body)
        while stop_after is None or len(written) < stop_after:
            try:
                written.append(next(iterator))
            except StopIteration:
                break
    finally:
        if hasattr(body, "close"):
            body.close()
    result.body = b"".join(written)
    return result


def exc_info_now(exc: BaseException) -> Any:
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


class LogCapture(logging.Handler):
    """Keeps every log record and its formatted line (the ``log`` fixture installs one)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def one(self) -> logging.LogRecord:
        assert len(self.records) == 1, [r.getMessage() for r in self.records]
        return self.records[0]
