"""The whole recommended stack (examples/full_stack.py) under application faults and disconnects.

Each fault runs through all seven layers, in every body form it can take, through the
Dispatcher's default app and a mount, identity and gzip, with the Profiler off and sampling
every request.  Each test asserts the three things a server operator relies on: the app's body
(or file) was closed exactly once, the error reached the server (or, when the app handled it,
did not), and the one access-log line says what happened.
"""

from __future__ import annotations

import gzip
import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults

import pytest

import middlewares.static
from examples.full_stack import full_stack
from tests.wsgi_helpers import Body, TrackedFile, drive
from tests.wsgi_helpers import LogCapture as Capture

FORMS = ["list", "generator", "write", "file_wrapper"]
CHUNKS = [b"a" * 400, b"b" * 400, b"c" * 400]  # over Compress's min_size, so gzip applies
ERROR_PAGE = b"an error page " * 40
BIG = bytes(range(256)) * 1024  # 256 KiB: over StaticFiles' max_in_memory, read from disk


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "big.bin").write_bytes(BIG)
    (root / "big.txt").write_bytes(BIG.hex().encode())  # compressible: Compress filters it
    return root


@pytest.fixture(params=["/page", "/api/page"], ids=["default-app", "mount"])
def where(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[None, "gzip"], ids=["identity", "gzip"])
def coding(request: pytest.FixtureRequest) -> str | None:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=[0.0, 1.0], ids=["unprofiled", "profiled"])
def sample_rate(request: pytest.FixtureRequest) -> float:
    return float(request.param)


class Fault(Exception):
    """What the faulty app raises; the test checks the server gets this very object."""


class FaultyFile(TrackedFile):
    """A file for ``wsgi.file_wrapper`` whose read or close can fail."""

    def __init__(
        self, data: bytes, app: App, *, read_fails_at: int | None, close_fails: bool
    ) -> None:
        super().__init__(data)
        self.app = app
        self.reads = 0
        self.read_fails_at = read_fails_at
        self.close_fails = close_fails

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads == self.read_fails_at:
            raise self.app.fail("read failed midway")
        return super().read(size)

    def close(self) -> None:
        super().close()
        if self.close_fails:
            raise self.app.fail("close failed")


class App:
    """An app that answers in body form ``form`` and fails as ``fault`` says.

    ``closeables`` holds every object whose ``close()`` the stack must call exactly once;
    ``raised`` the exception the app raised (the server must get that very object).
    """

    def __init__(self, form: str, fault: str) -> None:
        self.form = form
        self.fault = fault
        self.closeables: list[Body | TrackedFile] = []
        self.raised: BaseException | None = None
        self.script_names: list[str] = []

    def fail(self, message: str) -> Fault:
        self.raised = Fault(message)
        return self.raised

    def close_counts(self) -> list[int]:
        return [c.close_calls if isinstance(c, TrackedFile) else c.closed for c in self.closeables]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.script_names.append(environ["SCRIPT_NAME"])
        fault, form = self.fault, self.form
        headers = [("Content-Type", "text/plain")]
        if fault == "before_start":
            raise self.fail("before start_response")
        if fault == "after_start":
            start_response("200 OK", headers)
            raise self.fail("after start_response")
        if fault == "exc_info_before_body":
            start_response("200 OK", headers)
            try:
                raise self.fail("handled: the app sends an error page instead")
            except Fault:
                write = start_response("500 Internal Server Error", headers, sys.exc_info())
            return self._body(form, [ERROR_PAGE], write, environ)
        if fault in ("exc_info_after_body", "exc_info_after_empty_chunk"):
            return self._restart_after_body(form, start_response, headers)
        write = start_response("200 OK", headers)
        return self._body(form, CHUNKS, write, environ)

    def _body(
        self, form: str, chunks: list[bytes], write: Callable[[bytes], Any], environ: Any
    ) -> Any:
        midway = 1 if self.fault == "midway" else None
        close_fails = self.fault == "in_close"
        if form == "file_wrapper":
            file = FaultyFile(
                b"".join(chunks), self, read_fails_at=2 if midway else None, close_fails=close_fails
            )
            self.closeables.append(file)
            return environ["wsgi.file_wrapper"](file, len(chunks[0]))
        if form == "write":
            for index, chunk in enumerate(chunks):
                if index == midway:
                    raise self.fail("midway through write()")
                write(chunk)
            chunks = []
        elif form == "generator":
            chunks = self._generate(chunks, midway)  # type: ignore[assignment]
        body = _FailingBody(self, chunks, raise_at=midway, close_raises=close_fails)
        self.closeables.append(body)
        return body

    def _generate(self, chunks: list[bytes], midway: int | None) -> Iterator[bytes]:
        for index, chunk in enumerate(chunks):
            if index == midway:
                raise self.fail("midway through a generator")
            yield chunk

    def _restart_after_body(
        self, form: str, start_response: Callable[..., Any], headers: list[tuple[str, str]]
    ) -> Any:
        # PEP 3333: once the headers are sent, start_response(..., exc_info) must re-raise.
        if form == "write":
            write = start_response("200 OK", headers)
            write(CHUNKS[0])
            try:
                raise self.fail("after write() started the body")
            except Fault:
                start_response("500 Internal Server Error", headers, sys.exc_info())
            raise AssertionError("start_response did not re-raise exc_info")  # pragma: no cover

        empty = self.fault == "exc_info_after_empty_chunk"

        def generate() -> Iterator[bytes]:
            start_response("200 OK", [*headers, ("X-Stale", "1")])
            # An empty chunk sends nothing (PEP 3333: headers go with the first non-empty
            # one), so the server still takes the error page below.
            yield b"" if empty else CHUNKS[0]
            try:
                raise self.fail("after the first chunk")
            except Fault:
                start_response("500 Internal Server Error", headers, sys.exc_info())
            yield ERROR_PAGE  # only reached when the server took the new status

        body = Body(generate())
        self.closeables.append(body)
        return body


class _FailingBody(Body):
    """A Body whose failures are the app's own (recorded as ``raised``)."""

    def __init__(
        self, app: App, chunks: Iterable[bytes], *, raise_at: int | None, close_raises: bool
    ) -> None:
        super().__init__(chunks, close_raises=close_raises)
        self.app = app
        self.raise_at_chunk = raise_at

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.raise_at_chunk:
                raise self.app.fail("midway through the body")
            yield chunk

    def close(self) -> None:
        self.closed += 1
        if self.close_raises:
            raise self.app.fail("in close()")


def build(app: App, static_dir: Path, log: Capture, sample_rate: float = 0.0) -> Any:
    return full_stack(
        app, static_dir=static_dir, mounts={"/api": app}, logger=log.logger, sample_rate=sample_rate
    )


def request(where: str, coding: str | None = None, **extra: str) -> dict[str, Any]:
    environ = {"PATH_INFO": where, "REMOTE_ADDR": "192.0.2.7", **extra}
    if coding:
        environ["HTTP_ACCEPT_ENCODING"] = coding
    return environ


def check_route(app: App, where: str) -> None:
    """The request reached the app through the Dispatcher's default or its /api mount."""
    assert app.script_names == (["/api"] if where.startswith("/api/") else [""])


def check_line(
    record: logging.LogRecord, *, status: int, outcome: str, error: str = "", path: str
) -> None:
    """The access record's fields and its combined line say what happened."""
    fields = record.__dict__
    assert (fields["status"], fields["outcome"], fields["error_type"]) == (status, outcome, error)
    line = record.getMessage()
    assert f'"GET {path} HTTP/1.0" {status} ' in line
    mark = {"completed": "-", "disconnected": "disconnected", "error": f"error={error}"}[outcome]
    assert line.endswith(" " + mark)
    assert line.startswith("192.0.2.7 ")


def decoded(result: Any) -> bytes:
    headers = {name.lower(): value for name, value in result.headers}
    if headers.get("content-encoding") == "gzip":
        return gzip.decompress(result.body)
    return bytes(result.body)


# --- the app raises --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["before_start", "after_start"])
def test_app_raising_before_any_body_is_a_logged_500_and_reaches_the_server(
    fault: str, where: str, coding: str | None, sample_rate: float, static_dir: Path, log: Capture
) -> None:
    app = App("list", fault)
    with pytest.raises(Fault) as info:
        drive(build(app, static_dir, log, sample_rate), environ=request(where, coding))
    assert info.value is app.raised
    check_route(app, where)
    record = log.one()
    check_line(record, status=500, outcome="error", error="Fault", path=where)
    assert record.__dict__["size"] == 0


def test_app_raising_midway_through_its_body(
    body_form: str,
    where: str,
    coding: str | None,
    sample_rate: float,
    static_dir: Path,
    log: Capture,
) -> None:
    app = App(body_form, "midway")
    with pytest.raises(Fault) as info:
        drive(build(app, static_dir, log, sample_rate), environ=request(where, coding))
    assert info.value is app.raised
    check_route(app, where)
    # A write() app raises from its call: it returned no body to close.
    assert app.close_counts() == ([] if body_form == "write" else [1])
    record = log.one()
    # The headers and the first chunk went out: the status sent stays 200.
    check_line(record, status=200, outcome="error", error="Fault", path=where)
    assert record.__dict__["size"] > 0
    if coding is None:
        assert record.__dict__["size"] == len(CHUNKS[0])


def test_app_raising_in_close(
    body_form: str,
    where: str,
    coding: str | None,
    sample_rate: float,
    static_dir: Path,
    log: Capture,
) -> None:
    app = App(body_form, "in_close")
    with pytest.raises(Fault) as info:
        drive(build(app, static_dir, log, sample_rate), environ=request(where, coding))
    assert info.value is app.raised
    check_route(app, where)
    assert app.close_counts() == [1]
    check_line(log.one(), status=200, outcome="error", error="Fault", path=where)


# --- start_response(..., exc_info) -----------------------------------------------------------


def test_error_page_via_exc_info_before_the_body_replaces_the_response(
    body_form: str,
    where: str,
    coding: str | None,
    sample_rate: float,
    static_dir: Path,
    log: Capture,
) -> None:
    app = App(body_form, "exc_info_before_body")
    result = drive(build(app, static_dir, log, sample_rate), environ=request(where, coding))
    # The app handled its error: nothing reaches the server, the client gets the error page.
    assert result.status == "500 Internal Server Error"
    assert decoded(result) == ERROR_PAGE
    check_route(app, where)
    assert app.close_counts() == [1]
    record = log.one()
    check_line(record, status=500, outcome="completed", path=where)
    assert record.__dict__["size"] == len(result.body)


@pytest.mark.parametrize("form", ["generator", "write"])
def test_exc_info_after_the_body_started_reaches_the_server(
    form: str, where: str, coding: str | None, sample_rate: float, static_dir: Path, log: Capture
) -> None:
    app = App(form, "exc_info_after_body")
    with pytest.raises(Fault) as info:
        drive(build(app, static_dir, log, sample_rate), environ=request(where, coding))
    assert info.value is app.raised
    check_route(app, where)
    assert app.close_counts() == ([1] if form == "generator" else [])
    # The client got "200 OK" and part of the body: the line logs what was sent, not the 500
    # the app tried to switch to.
    record = log.one()
    check_line(record, status=200, outcome="error", error="Fault", path=where)
    assert record.__dict__["size"] > 0


def test_exc_info_after_an_empty_first_chunk_replaces_the_response(
    where: str, coding: str | None, sample_rate: float, static_dir: Path, log: Capture
) -> None:
    app = App("generator", "exc_info_after_empty_chunk")
    result = drive(build(app, static_dir, log, sample_rate), environ=request(where, coding))
    assert result.status == "500 Internal Server Error"
    assert ("X-Stale", "1") not in result.headers
    assert decoded(result) == ERROR_PAGE  # Compress started over on the error page
    check_route(app, where)
    assert app.close_counts() == [1]
    record = log.one()
    check_line(record, status=500, outcome="completed", path=where)
    assert record.__dict__["size"] == len(result.body)


# --- the client goes away --------------------------------------------------------------------


@pytest.mark.parametrize("form", ["list", "generator", "file_wrapper"])
@pytest.mark.parametrize("after", [0, 1])
def test_client_disconnect_mid_body(
    form: str,
    after: int,
    where: str,
    coding: str | None,
    sample_rate: float,
    static_dir: Path,
    log: Capture,
) -> None:
    app = App(form, "none")
    drive(
        build(app, static_dir, log, sample_rate),
        environ=request(where, coding),
        stop_after=after,
    )
    check_route(app, where)
    assert app.close_counts() == [1]
    record = log.one()
    if form == "file_wrapper" and coding is None and after == 0:
        # The server got its own file_wrapper back (sendfile kept) and closed it unread, as a
        # sendfile server does after sending it all: the stack cannot tell the two apart.
        check_line(record, status=200, outcome="completed", path=where)
    else:
        check_line(record, status=200, outcome="disconnected", path=where)
        assert record.__dict__["size"] < sum(map(len, CHUNKS))


# --- static files: the stack's own bodies ----------------------------------------------------


class CountingFile(io.FileIO):
    """The files StaticFiles opens, with their close() calls counted."""

    close_calls = 0

    def close(self) -> None:
        self.close_calls += 1
        super().close()


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[CountingFile]:
    files: list[CountingFile] = []  # kept referenced: a garbage-collected file closes itself

    def counting_open(path: str, mode: str = "rb", buffering: int = -1) -> CountingFile:
        assert (mode, buffering) == ("rb", 0)
        file = CountingFile(path, "r")
        files.append(file)
        return file

    monkeypatch.setattr(middlewares.static, "open", counting_open, raising=False)
    return files


@pytest.mark.parametrize("name", ["big.bin", "big.txt"])
@pytest.mark.parametrize(
    "range_header", [None, "bytes=1000-199999"], ids=["whole-file_wrapper", "range-FileBody"]
)
@pytest.mark.parametrize("after", [0, 1, None], ids=["gone-at-once", "gone-midway", "read-all"])
def test_static_file_is_closed_once_however_the_client_leaves(
    name: str,
    range_header: str | None,
    after: int | None,
    coding: str | None,
    static_dir: Path,
    opened: list[CountingFile],
    log: Capture,
) -> None:
    app = App("list", "none")
    extra = {"HTTP_RANGE": range_header} if range_header else {}
    path = f"/static/{name}"
    result = drive(
        build(app, static_dir, log), environ=request(path, coding, **extra), stop_after=after
    )
    assert app.script_names == []  # StaticFiles answered; the app never ran
    assert [file.close_calls for file in opened] == [1]
    expected = BIG if name == "big.bin" else BIG.hex().encode()
    if range_header:
        assert result.status == "206 Partial Content"
        expected = expected[1000:200000]
    else:
        assert result.status == "200 OK"
    record = log.one()
    assert record.__dict__["status"] == int(result.status[:3])
    assert record.__dict__["error_type"] == ""
    if after is None:
        assert decoded(result) == expected
        check_line(record, status=record.__dict__["status"], outcome="completed", path=path)
        assert record.__dict__["size"] == len(result.body)
    elif after == 0 and range_header is None and (name == "big.bin" or coding is None):
        # The server got its own file_wrapper back (sendfile kept) and closed it unread, as a
        # sendfile server does after sending it all: the stack cannot tell the two apart.
        check_line(record, status=200, outcome="completed", path=path)
    else:
        check_line(record, status=record.__dict__["status"], outcome="disconnected", path=path)
        assert record.__dict__["size"] == len(result.body) < len(expected)


def test_static_file_is_closed_when_the_server_refuses_the_headers(
    static_dir: Path, opened: list[CountingFile], log: Capture
) -> None:
    # A server may raise from start_response (a header it cannot send); the opened file must
    # not leak, and the line must still be written once.
    app = build(App("list", "none"), static_dir, log)
    refused = RuntimeError("refused")

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        raise refused

    environ = request("/static/big.bin", **{"wsgi.file_wrapper": FileWrapper})
    setup_testing_defaults(environ)
    with pytest.raises(RuntimeError) as info:
        app(environ, start_response)
    assert info.value is refused
    assert [file.close_calls for file in opened] == [1]
    check_line(log.one(), status=500, outcome="error", error="RuntimeError", path="/static/big.bin")


@pytest.fixture(params=FORMS)
def body_form(request: pytest.FixtureRequest) -> str:
    return str(request.param)
