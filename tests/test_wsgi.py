"""The shared core: header helpers and Responder, across every body form an app can produce."""

from __future__ import annotations

import io
from typing import Any, ClassVar
from wsgiref.util import FileWrapper

import pytest
from hypothesis import given
from hypothesis import strategies as st
from webtest import TestApp

from middlewares import Stack
from middlewares._wsgi import (
    Headers,
    Observer,
    Responder,
    Watched,
    add_vary,
    choose_encoding,
    get_header,
    import_string,
    intercept,
    known_chunks,
    merge_header_list,
    merge_token,
    remove_header,
    set_header,
)
from tests.wsgi_helpers import Body, closes, drive, exc_info_now, make_app

FORMS = ["list", "generator", "write", "file_wrapper"]
CHUNKS = [b"alpha ", b"beta ", b"gamma"]


# --- header helpers --------------------------------------------------------------------------


def test_get_header_is_case_insensitive_and_returns_first() -> None:
    headers: Headers = [("content-TYPE", "text/html"), ("Content-Type", "text/plain")]
    assert get_header(headers, "Content-Type") == "text/html"
    assert get_header(headers, "X-Missing") is None


def test_set_header_replaces_every_copy() -> None:
    headers: Headers = [("ETag", '"a"'), ("X", "1"), ("etag", '"b"')]
    set_header(headers, "ETag", 'W/"a"')
    assert headers == [("X", "1"), ("ETag", 'W/"a"')]


def test_remove_header_removes_every_copy_in_place() -> None:
    headers: Headers = [("Content-Length", "3"), ("X", "1"), ("content-length", "4")]
    alias = headers
    remove_header(headers, "CONTENT-LENGTH")
    assert alias == [("X", "1")]


@pytest.mark.parametrize(
    ("before", "add", "after"),
    [
        pytest.param([], ("Accept-Encoding",), [("Vary", "Accept-Encoding")], id="new"),
        pytest.param(
            [("Vary", "Origin")],
            ("accept-encoding",),
            [("Vary", "Origin, accept-encoding")],
            id="append",
        ),
        pytest.param(
            [("vary", "Accept-Encoding")],
            ("Accept-Encoding",),
            [("vary", "Accept-Encoding")],
            id="no-duplicate-any-case",
        ),
        pytest.param(
            [("Vary", "Origin"), ("X", "1"), ("Vary", "Cookie, origin")],
            ("Accept-Encoding",),
            [("Vary", "Origin, Cookie, Accept-Encoding"), ("X", "1")],
            id="folds-split-lines",
        ),
        pytest.param([("Vary", "*")], ("Origin",), [("Vary", "*")], id="star-absorbs-new"),
        pytest.param([("Vary", "Origin")], ("*",), [("Vary", "*")], id="star-absorbs-old"),
        pytest.param([("Vary", " , ,")], ("Origin",), [("Vary", "Origin")], id="empty-tokens"),
        pytest.param(
            [],
            ("Origin, Access-Control-Request-Method",),
            [("Vary", "Origin, Access-Control-Request-Method")],
            id="comma-list-arg",
        ),
    ],
)
def test_add_vary(before: Headers, add: tuple[str, ...], after: Headers) -> None:
    headers = list(before)
    add_vary(headers, *add)
    assert headers == after


@pytest.mark.parametrize(
    ("line", "member", "merged"),
    [
        ("Accept-Encoding", "Origin", "Accept-Encoding, Origin"),
        ("origin", "Origin", "origin"),
        ("Cookie, Accept", "Origin", None),
        ("*", "Origin", None),
        ("Cookie", "*", None),
        ("", "Origin", None),
        (" Cookie", "Origin", None),
        ("Cookie", "Origin, Accept", None),
    ],
)
def test_merge_token(line: str, member: str, merged: str | None) -> None:
    assert merge_token(line, member) == merged


def test_merge_header_list_star_is_only_special_for_vary() -> None:
    headers: Headers = [("Access-Control-Expose-Headers", "*")]
    merge_header_list(headers, "Access-Control-Expose-Headers", "X-Id")
    assert headers == [("Access-Control-Expose-Headers", "*, X-Id")]


def _reference_merge(headers: Headers, name: str, *values: str) -> Headers:
    """What merge_header_list must give: every line folded, tokens deduplicated in order."""
    lines = [value for key, value in headers if key.lower() == name.lower()]
    tokens: list[str] = []
    seen: set[str] = set()
    for value in [*lines, *values]:
        for token in (part.strip() for part in value.split(",")):
            if token and token.lower() not in seen:
                seen.add(token.lower())
                tokens.append(token)
    if not tokens:
        return list(headers)
    if name.lower() == "vary" and "*" in seen:
        tokens = ["*"]
    first = next((i for i, (key, _) in enumerate(headers) if key.lower() == name.lower()), None)
    if first is None:
        return [*headers, (name, ", ".join(tokens))]
    kept = [item for i, item in enumerate(headers) if i == first or item[0].lower() != name.lower()]
    at = kept.index(headers[first])
    kept[at] = (headers[first][0], ", ".join(tokens))
    return kept


_TOKENS = st.sampled_from(["Origin", "origin", "Accept-Encoding", "Cookie", "*", "", " X-Id "])


@given(
    lines=st.lists(st.lists(_TOKENS, max_size=4).map(lambda t: ",".join(t)), max_size=3),
    spacing=st.sampled_from([",", ", ", " , "]),
    add=st.lists(_TOKENS, min_size=1, max_size=2),
)
def test_merge_header_list_matches_the_reference(
    lines: list[str], spacing: str, add: list[str]
) -> None:
    """Every path (the one-token fast path included) gives the folded, deduplicated list."""
    headers: Headers = [("Content-Type", "text/plain")]
    for line in lines:
        headers.append(("Vary", line.replace(",", spacing)))
    expected = _reference_merge(headers, "Vary", *add)
    merge_header_list(headers, "Vary", *add)
    assert headers == expected


# --- Responder -------------------------------------------------------------------------------


class Upper(Responder):
    """Changes headers and body: upper-cases every chunk and appends ``!``."""

    ended = 0

    def start(self, status: str, headers: Headers, body: Any) -> str:
        remove_header(headers, "Content-Length")
        headers.append(("X-Upper", "yes"))
        self.filters_body = True
        return status

    def filter(self, chunk: bytes) -> bytes:
        return chunk.upper()

    def finish(self) -> bytes:
        return b"!"

    def end(self) -> None:
        type(self).ended += 1


class Logging(Responder):
    """Leaves the body alone and records how the response ended."""

    log: ClassVar[list[tuple[str, int, bool, str | None]]] = []

    def end(self) -> None:
        err = type(self.error).__name__ if self.error else None
        self.log.append((self.status, self.bytes_sent, self.completed, err))


def middleware(responder_cls: type[Responder]) -> Any:
    def wrap(app: Any) -> Any:
        def mw(environ: Any, start_response: Any) -> Any:
            return responder_cls(environ, start_response).run(app)

        return mw

    return wrap


@pytest.fixture(autouse=True)
def _reset() -> None:
    Upper.ended = 0
    Logging.log = []


@pytest.mark.parametrize("form", FORMS)
def test_filtering_each_form_closes_once(form: str) -> None:
    app, record = make_app(form, CHUNKS)
    result = drive(middleware(Upper)(app))
    assert result.status == "200 OK"
    assert ("X-Upper", "yes") in result.headers
    assert result.body == b"ALPHA BETA GAMMA!"
    assert closes(record) == 1
    assert Upper.ended == 1


@pytest.mark.parametrize("form", FORMS)
def test_observing_each_form_closes_once_and_counts_bytes(form: str) -> None:
    app, record = make_app(form, CHUNKS)
    result = drive(middleware(Logging)(app))
    assert result.body == b"alpha beta gamma"
    assert closes(record) == 1
    assert Logging.log == [("200 OK", 16, True, None)]


@pytest.mark.parametrize("form", FORMS)
def test_webtest_lint_accepts_each_form(form: str) -> None:
    app, record = make_app(form, CHUNKS)
    test_app = TestApp(
        middleware(Upper)(middleware(Logging)(app)),
        extra_environ={"wsgi.file_wrapper": FileWrapper},
    )
    response = test_app.get("/")
    assert response.body == b"ALPHA BETA GAMMA!"
    assert closes(record) == 1


def test_file_wrapper_identity_is_kept_when_body_untouched() -> None:
    app, record = make_app("file_wrapper", CHUNKS)
    result = drive(middleware(Logging)(app), validate=False)
    assert type(result.server_body) is FileWrapper
    assert result.server_body is not record["body"]  # a new wrapper around the same file
    assert result.body == b"alpha beta gamma"
    assert record["file"].close_calls == 1
    assert Logging.log == [("200 OK", 16, True, None)]


def test_file_wrapper_is_iterated_when_body_filtered() -> None:
    app, record = make_app("file_wrapper", CHUNKS)
    result = drive(middleware(Upper)(app), validate=False)
    assert type(result.server_body) is not FileWrapper
    assert result.body == b"ALPHA BETA GAMMA!"
    assert record["file"].close_calls == 1


def test_generator_raising_midway_closes_once_and_reports_error() -> None:
    body = Body(CHUNKS, raise_at=1)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(ValueError, match="boom while iterating"):
        drive(middleware(Logging)(app))
    assert body.closed == 1
    assert Logging.log == [("200 OK", 6, False, "ValueError")]


def test_close_that_raises_is_called_once_and_propagates() -> None:
    body = Body(CHUNKS, close_raises=True)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(OSError, match="boom in close"):
        drive(middleware(Upper)(middleware(Logging)(app)))
    assert body.closed == 1
    assert Upper.ended == 1
    assert Logging.log == [("200 OK", 16, True, "OSError")]


def test_app_raising_before_start_response_ends_once() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        raise KeyError("before")

    with pytest.raises(KeyError):
        drive(middleware(Logging)(app))
    assert Logging.log == [("", 0, False, "KeyError")]


def test_middleware_hook_raising_closes_body_once() -> None:
    class Broken(Responder):
        def start(self, status: str, headers: Headers, body: Any) -> str:
            raise RuntimeError("hook broke")

    app, record = make_app("list", CHUNKS)
    with pytest.raises(RuntimeError, match="hook broke"):
        drive(middleware(Broken)(app))
    assert closes(record) == 1


def test_middleware_hook_raising_at_first_chunk_closes_body_once() -> None:
    class Broken(Responder):
        def start(self, status: str, headers: Headers, body: Any) -> str:
            raise RuntimeError("hook broke")

    app, record = make_app("generator", CHUNKS)
    with pytest.raises(RuntimeError, match="hook broke"):
        drive(middleware(Broken)(app))
    assert closes(record) == 1


def test_filter_raising_closes_body_once() -> None:
    class Broken(Upper):
        def filter(self, chunk: bytes) -> bytes:
            raise RuntimeError("codec broke")

    app, record = make_app("list", CHUNKS)
    with pytest.raises(RuntimeError, match="codec broke"):
        drive(middleware(Broken)(app))
    assert closes(record) == 1


@pytest.mark.parametrize("form", ["list", "generator", "file_wrapper"])
def test_client_disconnect_closes_once_and_is_not_completed(form: str) -> None:
    app, record = make_app(form, CHUNKS)
    drive(middleware(Logging)(app), stop_after=1, validate=form != "file_wrapper")
    assert closes(record) == 1
    status, sent, completed, error = Logging.log[0]
    assert (status, error) == ("200 OK", None)
    if form != "file_wrapper":  # a file wrapper's size comes from the file (sendfile is opaque)
        assert (sent, completed) == (6, False)


class _FailingRead(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        if self.tell():
            raise OSError("disk went away")
        return super().read(size)


def test_file_wrapper_read_error_is_the_response_error() -> None:
    # Regression: the re-wrapped file hid a failing read from end(), so an access log said
    # "completed" with the whole file's size while the server got the exception.
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](_FailingRead(b"0123456789"), 4)

    with pytest.raises(OSError, match="disk went away"):
        drive(middleware(Logging)(app), validate=False)
    assert Logging.log == [("200 OK", 4, False, "OSError")]


class _UnreadableFile(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise OSError("disk went away")


def test_file_wrapper_failing_first_read_is_not_completed() -> None:
    # Nothing was read, and nothing claimed: the failed read must not count as the end.
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](_UnreadableFile(b""), 4)

    with pytest.raises(OSError, match="disk went away"):
        drive(middleware(Logging)(app), validate=False)
    assert Logging.log == [("200 OK", 0, False, "OSError")]


@pytest.mark.parametrize(("stop_after", "sent"), [(0, 0), (1, 4)])
def test_file_wrapper_read_short_is_not_completed(stop_after: int, sent: int) -> None:
    app, record = make_app("file_wrapper", [b"abc", b"def", b"ghi"])
    drive(middleware(Logging)(app), stop_after=stop_after, validate=False)
    assert closes(record) == 1
    # stop_after=0: wsgiref's FileWrapper never read, exactly as sendfile would not: opaque.
    expected = ("200 OK", 9, True, None) if stop_after == 0 else ("200 OK", sent, False, None)
    assert Logging.log == [expected]


def test_exc_info_before_body_replaces_status_and_headers() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain")],
            exc_info_now(ValueError("late")),
        )
        return Body([b"error page"])

    result = drive(middleware(Upper)(app))
    assert result.status == "500 Internal Server Error"
    assert get_header(result.headers, "X-First") is None
    assert result.body == b"ERROR PAGE!"


def test_exc_info_after_headers_sent_reraises_in_the_app() -> None:
    seen: list[str] = []

    def app(environ: Any, start_response: Any) -> Any:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial")
        try:
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/plain")],
                exc_info_now(ValueError("after")),
            )
        except ValueError as exc:
            seen.append(str(exc))
            raise
        return []  # pragma: no cover - start_response raised

    with pytest.raises(ValueError, match="after"):
        drive(middleware(Logging)(app))
    assert seen == ["after"]
    assert Logging.log[0][3] == "ValueError"


@pytest.mark.parametrize("form", ["write", "generator"])
def test_exc_info_refused_by_the_server_leaves_the_sent_status(form: str) -> None:
    # Regression: end() saw the 500 the server refused, so access logs claimed a 500 for a
    # response whose "200 OK" and first bytes had already gone to the client.
    def restart(start_response: Any) -> None:
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain"), ("X-Error", "1")],
            exc_info_now(ValueError("after")),
        )

    def write_app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])(b"partial")
        restart(start_response)
        return []  # pragma: no cover - start_response raised

    def generator_app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        restart(start_response)

    class Headers(Logging):
        def end(self) -> None:
            super().end()
            self.log.append((get_header(self.headers, "X-Error") or "", 0, False, None))

    app = write_app if form == "write" else generator_app
    with pytest.raises(ValueError, match="after"):
        drive(middleware(Headers)(app))
    assert Logging.log == [("200 OK", 7, False, "ValueError"), ("", 0, False, None)]


def test_exc_info_after_commit_before_body_reaches_server_and_hook() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        start_response(
            "503 Service Unavailable",
            [("Content-Type", "text/plain")],
            exc_info_now(ValueError("x")),
        )
        yield b"down"

    result = drive(middleware(Upper)(app))
    assert result.status == "503 Service Unavailable"
    assert ("X-Upper", "yes") in result.headers
    assert result.body == b"DOWN!"


def starts_twice(environ: Any, start_response: Any) -> Any:
    """An app that breaks PEP 3333: a second start_response without exc_info."""
    start_response("200 OK", [])
    start_response("200 OK", [])
    return []


def test_second_start_response_without_exc_info_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="second time"):
        middleware(Logging)(starts_twice)({}, lambda s, h, e=None: None)


def test_app_header_list_is_not_mutated() -> None:
    shared = [("Content-Type", "text/plain"), ("Content-Length", "5")]

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", shared)
        return [b"hello"]

    drive(middleware(Upper)(app))
    assert shared == [("Content-Type", "text/plain"), ("Content-Length", "5")]


def test_start_sees_list_body_when_started_before_return() -> None:
    seen: list[Any] = []

    class Peek(Responder):
        def start(self, status: str, headers: Headers, body: Any) -> str:
            seen.append(body)
            return status

    app, record = make_app("list", CHUNKS)
    drive(middleware(Peek)(app))
    assert seen == [record["body"]]
    app, record = make_app("generator", CHUNKS)
    drive(middleware(Peek)(app))
    assert seen[1] is None  # a generator starts the response lazily: body not known yet


def test_watch_end_false_passes_body_through_untouched() -> None:
    class HeadersOnly(Responder):
        watch_end = False

        def start(self, status: str, headers: Headers, body: Any) -> str:
            headers.append(("X-Seen", "1"))
            return status

    app, record = make_app("list", CHUNKS)
    result = drive(middleware(HeadersOnly)(app), validate=False)
    assert result.server_body is record["body"]
    assert ("X-Seen", "1") in result.headers
    assert closes(record) == 1
    app, record = make_app("generator", CHUNKS)
    result = drive(middleware(HeadersOnly)(app))
    assert ("X-Seen", "1") in result.headers
    assert closes(record) == 1


def test_empty_body_still_starts_response_and_sends_tail() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        def gen() -> Any:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return
            yield  # pragma: no cover

        return gen()

    result = drive(middleware(Upper)(app))
    assert result.status == "200 OK"
    assert result.body == b"!"


def test_empty_chunks_are_passed_on_not_swallowed() -> None:
    chunks: list[bytes] = []

    class Swallow(Upper):
        def filter(self, chunk: bytes) -> bytes:
            return b""

    app, _ = make_app("generator", CHUNKS)
    body = middleware(Swallow)(app)(
        {"wsgi.file_wrapper": FileWrapper}, lambda s, h, e=None: chunks.append
    )
    pieces = list(body)
    body.close()
    assert pieces == [b"", b"", b"", b"!"]  # one piece per app chunk: iteration never blocks


# --- content negotiation ---------------------------------------------------------------------

OFFER = ("br", "gzip")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("gzip", "gzip", id="gzip"),
        pytest.param("gzip, deflate, br", "br", id="server-order-on-tie"),
        pytest.param("gzip;q=1.0, br;q=0.5", "gzip", id="client-weight-wins"),
        pytest.param("br;q=0, gzip", "gzip", id="q0-excludes"),
        pytest.param("gzip;q=0", None, id="only-refused"),
        pytest.param("*", "br", id="star"),
        pytest.param("*;q=0.1, br;q=0", "gzip", id="star-covers-unnamed-only"),
        pytest.param("GZIP", "gzip", id="case"),
        pytest.param("  gzip ;  q=0.5 ,br ; q=0.4", "gzip", id="whitespace"),
        pytest.param("identity", None, id="identity-only"),
        pytest.param("gzip;q=2", None, id="q-out-of-range-ignored"),
        pytest.param("gzip;q=abc, br", "br", id="q-garbage-ignored"),
        pytest.param("gzip;q=0.0001", None, id="q-too-many-digits"),
        pytest.param(",,;;,=", None, id="garbage"),
        pytest.param("gzip;q=0, gzip;q=1", None, id="first-mention-counts"),
        pytest.param("x-gzip, compress", None, id="unoffered"),
    ],
)
def test_choose_encoding(header: str | None, expected: str | None) -> None:
    assert choose_encoding(header, OFFER) == expected


# --- "module:attribute" names ----------------------------------------------------------------


def test_import_string_resolves_dotted_attribute() -> None:
    assert import_string("os.path:join") is __import__("os").path.join
    assert import_string("middlewares.stack:Stack.__call__") is Stack.__call__


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("os.path", "expected", id="no-colon"),
        pytest.param(":join", "expected", id="no-module"),
        pytest.param("os:", "expected", id="no-attribute"),
        pytest.param("no_such_module_xyz:app", "ModuleNotFoundError", id="missing-module"),
        pytest.param("os:no_such_attribute", "AttributeError", id="missing-attribute"),
    ],
)
def test_import_string_errors_are_value_errors_naming_the_spec(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        import_string(spec)
    assert repr(spec) in str(info.value) or "expected" in str(info.value)


# --- intercept: settled from the headers, or taken over by a Responder -------------------------


class Tagger:
    """A Settler: tags the headers at once, unless the app asks for the body to decide."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.finals: list[bool] = []

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return intercept(self, self.app, environ, start_response)

    def settle(self, status: str, headers: Headers, final: bool) -> Headers | None:
        self.finals.append(final)
        if not final and get_header(headers, "X-Defer"):
            return None
        return [*headers, ("X-Settled", "yes")]

    def responder(self, environ: Any, start_response: Any) -> Responder:
        return Upper(environ, start_response)


@pytest.mark.parametrize("form", ["list", "write", "file_wrapper"])
def test_intercept_settled_passes_the_apps_own_body(form: str) -> None:
    shared = [("Content-Type", "text/plain")]
    app, record = make_app(form, CHUNKS, headers=shared)
    tagger = Tagger(app)
    result = drive(tagger, validate=form != "file_wrapper")
    assert ("X-Settled", "yes") in result.headers
    assert get_header(result.headers, "X-Upper") is None
    assert result.body == b"alpha beta gamma"
    assert closes(record) == 1
    # Unvalidated, the server gets the very object the app returned.
    environ = {"wsgi.file_wrapper": FileWrapper}
    assert tagger(environ, lambda s, h, e=None: lambda data: None) is record["body"]
    assert Upper.ended == 0  # no responder was made
    assert shared == [("Content-Type", "text/plain")]  # the app's list is not changed
    assert tagger.finals == [False, False]


def test_intercept_settled_file_wrapper_is_the_servers_own() -> None:
    app, record = make_app("file_wrapper", CHUNKS)
    result = drive(Tagger(app), validate=False)
    assert result.server_body is record["body"]  # sendfile still applies
    assert record["file"].close_calls == 1


@pytest.mark.parametrize("form", FORMS)
def test_intercept_deferred_is_taken_over_by_the_responder(form: str) -> None:
    app, record = make_app(form, CHUNKS, headers=[("Content-Type", "text/plain"), ("X-Defer", "1")])
    result = drive(Tagger(app))
    assert ("X-Upper", "yes") in result.headers
    assert get_header(result.headers, "X-Settled") is None
    assert result.body == b"ALPHA BETA GAMMA!"
    assert closes(record) == 1
    assert Upper.ended == 1


def test_intercept_generator_starting_late_is_taken_over() -> None:
    # start_response runs at the first next(), after intercept returned: a responder must be
    # in place by then, or the response would never be started.
    app, record = make_app("generator", CHUNKS)
    tagger = Tagger(app)
    result = drive(tagger)
    assert ("X-Upper", "yes") in result.headers
    assert result.body == b"ALPHA BETA GAMMA!"
    assert closes(record) == 1
    assert Upper.ended == 1
    assert tagger.finals == []  # the responder's own start_response saw it


def test_intercept_second_start_response_without_exc_info_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="second time"):
        Tagger(starts_twice)({}, lambda s, h, e=None: None)


def test_intercept_restart_after_settled_goes_to_the_server_final() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain"), ("X-Defer", "1")],
            exc_info_now(ValueError("late")),
        )
        return Body([b"error page"])

    tagger = Tagger(app)
    result = drive(tagger)
    assert result.status == "500 Internal Server Error"
    assert ("X-Settled", "yes") in result.headers  # final: settled, never deferred
    assert result.body == b"error page"
    assert tagger.finals == [False, True]


def test_intercept_restart_after_bytes_went_out_reraises_in_the_app() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])(b"partial")
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain")],
            exc_info_now(ValueError("after")),
        )
        return []  # pragma: no cover - start_response raised

    with pytest.raises(ValueError, match="after"):
        drive(Tagger(app))


def test_intercept_app_raising_after_deferral_ends_the_responder_once() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Defer", "1")])
        raise KeyError("in the app")

    with pytest.raises(KeyError):
        drive(Tagger(app))
    assert Upper.ended == 1


def test_intercept_app_raising_before_start_response_propagates() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        raise KeyError("in the app")

    with pytest.raises(KeyError):
        drive(Tagger(app))
    assert Upper.ended == 0


def test_file_wrapper_with_a_content_length_that_is_not_a_length() -> None:
    # "²".isdigit() is true but int() refuses it: the size comes from the file instead.
    app, record = make_app(
        "file_wrapper", CHUNKS, headers=[("Content-Type", "text/plain"), ("Content-Length", "²")]
    )
    result = drive(middleware(Logging)(app), validate=False)
    assert result.body == b"alpha beta gamma"
    assert record["file"].close_calls == 1
    assert Logging.log == [("200 OK", 16, True, None)]


# --- Observer: watch a response, change no body --------------------------------------------------


class Seen(Observer):
    """Adds a header at start and keeps how each response ended."""

    ends: ClassVar[list[tuple[str, int, bool, str | None]]] = []

    def start(self, status: str, headers: Headers, body: object) -> str:
        assert body is None  # nothing is deferred: the hook never sees the body
        headers.append(("X-Seen", "1"))
        return status

    def end(self) -> None:
        error = type(self.error).__name__ if self.error is not None else None
        Seen.ends.append((self.status, self.bytes_sent, self.completed, error))


def observed(app: Any) -> Any:
    return lambda environ, start_response: Seen(environ, start_response).run(app)


@pytest.fixture(autouse=False)
def seen() -> list[tuple[str, int, bool, str | None]]:
    Seen.ends = []
    return Seen.ends


@pytest.mark.parametrize("form", ["list", "generator", "write", "file_wrapper"])
def test_observer_counts_every_form_and_ends_once(form: str, seen: list[Any]) -> None:
    app, record = make_app(form, [b"alpha ", b"beta ", b"gamma"])
    result = drive(observed(app), validate=form != "file_wrapper")
    assert result.body == b"alpha beta gamma"
    assert ("X-Seen", "1") in result.headers
    assert seen == [("200 OK", 16, True, None)]
    assert closes(record) == 1
    if form == "file_wrapper":
        assert isinstance(result.server_body, FileWrapper)


@pytest.mark.parametrize("form", ["generator", "file_wrapper"])
def test_observer_closes_the_body_when_taking_it_over_fails(form: str, seen: list[Any]) -> None:
    class Failing(Seen):
        def stream(self, body: Any) -> Any:
            raise RuntimeError("cannot watch this body")

        def wrap_file(self, body: Any) -> Any:
            raise RuntimeError("cannot watch this body")

    app, record = make_app(form, [b"abc"])
    with pytest.raises(RuntimeError, match="cannot watch"):
        drive(lambda e, s: Failing(e, s).run(app), validate=False)
    assert closes(record) == 1
    started = "200 OK" if form == "file_wrapper" else ""  # a generator starts when iterated
    assert seen == [(started, 0, False, "RuntimeError")]


@pytest.mark.parametrize("length", ["9" * 5000, "0" * 5000 + "2"])
def test_observer_file_wrapper_with_an_absurd_content_length(length: str, seen: list[Any]) -> None:
    # More digits than int() takes (4300): not a length to cap the file's size with.
    app, record = make_app(
        "file_wrapper",
        [b"abc"],
        headers=[("Content-Type", "text/plain"), ("Content-Length", length)],
    )
    result = drive(observed(app), validate=False)
    assert result.body == b"abc"
    assert seen == [("200 OK", 3 if length.startswith("9") else 2, True, None)]
    assert closes(record) == 1


@pytest.mark.parametrize("kind", [list, tuple])
def test_observer_reads_a_list_bodys_progress_at_close(kind: type, seen: list[Any]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return kind([b"ab", b"cde", b"f"])

    drive(observed(app), stop_after=2)
    drive(observed(app))
    drive(observed(app), stop_after=0)
    assert seen == [
        ("200 OK", 5, False, None),
        ("200 OK", 6, True, None),
        ("200 OK", 0, False, None),
    ]


def test_observer_passes_start_response_on_at_once(seen: list[Any]) -> None:
    order: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        order.append("app goes on")
        return [b"x"]

    def server_start(status: str, headers: Headers, exc_info: Any = None) -> Any:
        order.append(f"server has {status}")
        return lambda data: None

    body: Any = observed(app)({"REQUEST_METHOD": "GET"}, server_start)
    assert order == ["server has 200 OK", "app goes on"]
    body.close()


def test_observer_records_errors_from_the_app_and_the_body(seen: list[Any]) -> None:
    def raising(environ: dict[str, Any], start_response: Any) -> Any:
        raise KeyError("before")

    with pytest.raises(KeyError):
        drive(observed(raising))
    body = Body([b"abc", b"def"], raise_at=1)

    def mid_body(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(ValueError, match="boom"):
        drive(observed(mid_body))
    assert seen == [("", 0, False, "KeyError"), ("200 OK", 3, False, "ValueError")]
    assert body.closed == 1


def test_observer_keeps_the_first_status_when_the_server_refuses_a_restart(
    seen: list[Any],
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"sent")
        start_response("500 Oops", [("Content-Type", "text/plain")], exc_info_now(KeyError("x")))
        return [b"never"]

    with pytest.raises(KeyError):
        drive(observed(app))
    assert seen == [("200 OK", 4, False, "KeyError")]


def test_observer_refuses_a_second_start_without_exc_info(seen: list[Any]) -> None:
    with pytest.raises(RuntimeError, match="second time"):
        drive(observed(starts_twice), validate=False)
    assert seen == [("200 OK", 0, False, "RuntimeError")]


def test_observed_bodies_around_lists_run_no_app_code(seen: list[Any]) -> None:
    def listed(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return [b"x"]

    def generated(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        yield b"x"

    around_list = observed(listed)({}, lambda *a: None)
    around_around = observed(observed(listed))({}, lambda *a: None)
    around_generator = observed(generated)({}, lambda *a: None)
    assert Responder.runs_no_app_code(around_list)
    assert Responder.runs_no_app_code(around_around)
    assert not Responder.runs_no_app_code(around_generator)
    for body in (around_list, around_around, around_generator):
        body.close()


def test_watched_runs_every_step_of_the_body_through_run(seen: list[Any]) -> None:
    steps: list[str] = []

    def run(fn: Any, *args: Any) -> Any:
        steps.append(getattr(fn, "__name__", "?"))
        return fn(*args)

    class Through(Seen):
        def stream(self, body: Any) -> Any:
            return Watched(self, body, run)

    app, record = make_app("generator", [b"ab", b"c"])
    result = drive(lambda e, s: Through(e, s).run(app))
    assert result.body == b"abc"
    assert steps == ["iter", "next", "next", "next", "close"]
    assert seen == [("200 OK", 3, True, None)]
    assert closes(record) == 1


@pytest.mark.parametrize("layer", ["Responder", "Observer"])
def test_a_first_start_response_with_an_empty_exc_info_is_a_first_call(layer: str) -> None:
    # sys.exc_info() outside a handler is (None, None, None): no error (PEP 3333), as wsgiref's
    # own start_response takes it; it is not a second call.
    kind = Responder if layer == "Responder" else Observer

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")], (None, None, None))
        return [b"hello"]

    result = drive(lambda e, s: kind(e, s).run(app))
    assert (result.status, result.body) == ("200 OK", b"hello")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda: [b"a"], [b"a"], id="list"),
        pytest.param(lambda: (b"a",), (b"a",), id="tuple"),
        pytest.param(lambda: iter([b"a"]), None, id="iterator"),
        pytest.param(lambda: Body([b"a"]), None, id="iterable-with-close"),
    ],
)
@pytest.mark.parametrize("inner", [Responder, Observer])
def test_known_chunks_sees_a_list_through_layers_that_pass_it_on(
    make: Any, expected: Any, inner: type[Responder]
) -> None:
    # What an outer layer (Compress) can know of the body before it is iterated.
    seen: list[Any] = []

    class Outer(Responder):
        def start(self, status: str, headers: Any, body: Any) -> str:
            seen.append(known_chunks(body))
            return status

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return make()

    result = drive(middleware(Outer)(lambda e, s: inner(e, s).run(app)))
    assert result.body == b"a"
    assert seen == [expected]
