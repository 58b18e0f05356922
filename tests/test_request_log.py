"""RequestLogger: exact lines per format, bytes really sent, how a response ended, escaping,
redaction, request ids and their context variable, sendfile kept."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import FileWrapper

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from webtest import TestApp

from middlewares import CORS, Compress, request_log
from middlewares._log_formats import escape, escape_text, make_redactor
from middlewares.request_log import (
    RequestIdFilter,
    RequestLogger,
    current_request_id,
    request_id_var,
)
from tests.wsgi_helpers import Body, closes, drive, make_app
from tests.wsgi_helpers import LogCapture as Capture

FORMS = ["list", "generator", "write", "file_wrapper"]
CHUNKS = [b"alpha ", b"beta ", b"gamma"]
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wall clock at 2023-11-14T22:13:20.250Z in UTC; every request lasts 1.5 ms."""
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    monkeypatch.setattr(request_log, "wall_time", lambda: 1_700_000_000.25)
    monkeypatch.setattr(request_log, "perf_counter_ns", itertools.count(0, 1_500_000).__next__)


@pytest.fixture(autouse=True)
def restore_tz() -> Iterator[None]:
    yield
    time.tzset()


def logged(app: Any, log: Capture, **options: Any) -> RequestLogger:
    return RequestLogger(app, logger=log_name(log), **options)


def log_name(log: Capture) -> str:
    return log.logger.name


FULL_ENVIRON = {
    "REMOTE_ADDR": "192.0.2.1",
    "REMOTE_USER": "alice",
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "/app",
    "PATH_INFO": "/docs/a b",
    "QUERY_STRING": "q=1&token=s3cret",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "wsgi.url_scheme": "https",
    "HTTP_REFERER": "https://ref.example/p?x=1&sig=abc",
    "HTTP_USER_AGENT": "curl/8.5.0",
    "HTTP_X_REQUEST_ID": "req-42",
}

CLF_HEAD = (
    '192.0.2.1 - alice [14/Nov/2023:22:13:20 +0000] "GET /app/docs/a b?q=1&token=REDACTED HTTP/1.1"'
)


# --- every format, exact lines -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        pytest.param(
            "combined",
            CLF_HEAD
            + ' 200 16 "https://ref.example/p?x=1&sig=REDACTED" "curl/8.5.0" 1.500 req-42 -',
            id="combined",
        ),
        pytest.param("common", CLF_HEAD + " 200 16", id="common"),
        pytest.param(
            "{request_id} {method} {path} {status} {size} {duration_ms:.1f} {outcome}",
            "req-42 GET /app/docs/a b 200 16 1.5 completed",
            id="custom",
        ),
    ],
)
def test_text_formats_write_exact_lines(fmt: str, expected: str, log: Capture) -> None:
    app, _ = make_app("generator", CHUNKS)
    drive(logged(app, log, format=fmt), environ=FULL_ENVIRON)
    assert log.lines == [expected]


def test_json_format_uses_opentelemetry_keys(log: Capture) -> None:
    app, _ = make_app("generator", CHUNKS)
    drive(logged(app, log, format="json"), environ=FULL_ENVIRON)
    assert len(log.lines) == 1
    assert log.lines[0] == (
        '{"timestamp":"2023-11-14T22:13:20.250+00:00","http.request.method":"GET",'
        '"url.path":"/app/docs/a b","url.query":"q=1&token=REDACTED","url.scheme":"https",'
        '"http.response.status_code":200,"http.response.body.size":16,'
        '"client.address":"192.0.2.1","user_agent.original":"curl/8.5.0",'
        '"http.request.header.referer":["https://ref.example/p?x=1&sig=REDACTED"],'
        '"user.name":"alice","network.protocol.version":"1.1","duration_ms":1.500,'
        '"request_id":"req-42","outcome":"completed"}'
    )
    assert json.loads(log.lines[0])["http.response.status_code"] == 200


def test_json_omits_absent_optional_keys(log: Capture) -> None:
    app, _ = make_app("list", [b"x"])
    environ = {"HTTP_X_REQUEST_ID": "r1", "REMOTE_ADDR": "::1", "PATH_INFO": "/"}
    drive(logged(app, log, format="json"), environ=environ)
    data = json.loads(log.lines[0])
    assert set(data) == {
        "timestamp",
        "http.request.method",
        "url.path",
        "url.scheme",
        "http.response.status_code",
        "http.response.body.size",
        "client.address",
        "network.protocol.version",
        "duration_ms",
        "request_id",
        "outcome",
    }


def test_record_carries_fields_as_attributes(log: Capture) -> None:
    log.setFormatter(logging.Formatter("%(levelname)s %(status)d %(request_id)s %(outcome)s"))
    app, _ = make_app("list", [b"abc"])
    drive(logged(app, log, level="WARNING"), environ={"HTTP_X_REQUEST_ID": "abc-1"})
    (record,) = log.records
    assert log.lines == ["WARNING 200 abc-1 completed"]
    assert record.levelno == logging.WARNING
    assert record.__dict__["size"] == 3
    assert record.__dict__["method"] == "GET"
    assert record.__dict__["duration_ms"] == 1.5
    assert record.name == log_name(log)


def test_timestamps_take_the_offset_of_that_very_day(
    monkeypatch: pytest.MonkeyPatch, log: Capture
) -> None:
    # US Eastern: -0500 in winter, -0400 in summer (TransLogger writes one of them all year).
    monkeypatch.setenv("TZ", "EST+5EDT,M3.2.0,M11.1.0")
    time.tzset()
    app, _ = make_app("list", [b"x"])
    fmt = "{timestamp} [{clf_time}]"
    for when in (1_705_000_000.0, 1_720_000_000.5):  # January 2024, July 2024
        monkeypatch.setattr(request_log, "wall_time", lambda when=when: when)
        drive(logged(app, log, format=fmt))
    assert log.lines == [
        "2024-01-11T14:06:40.000-05:00 [11/Jan/2024:14:06:40 -0500]",
        "2024-07-03T05:46:40.500-04:00 [03/Jul/2024:05:46:40 -0400]",
    ]


# --- bytes, close, when the line is written -------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_bytes_really_sent_are_counted_in_every_body_form(form: str, log: Capture) -> None:
    # The app claims 1000 bytes; the log tells what went out.
    app, record = make_app(form, CHUNKS, headers=[("Content-Length", "1000")])
    result = drive(logged(app, log, format="{status} {size} {outcome}"), validate=False)
    assert result.body == b"alpha beta gamma"
    assert log.lines == ["200 16 completed"]
    assert closes(record) == 1


@pytest.mark.parametrize("form", FORMS)
def test_every_form_passes_the_validator_and_is_logged_once(form: str, log: Capture) -> None:
    app, record = make_app(form, CHUNKS)
    result = drive(logged(app, log, format="{size}"))
    assert result.body == b"alpha beta gamma"
    assert log.lines == ["16"]
    assert closes(record) == 1


def test_line_is_written_at_close_not_when_headers_go(log: Capture) -> None:
    app, record = make_app("generator", CHUNKS)
    mw = logged(app, log, format="{size} {duration_ms}")
    body = mw({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda s, h, e=None: None)
    chunks = list(body)
    assert chunks == CHUNKS
    assert log.lines == []  # exhausted but not closed yet: the server may still be sending
    body.close()  # type: ignore[attr-defined]
    body.close()  # type: ignore[attr-defined]
    assert log.lines == ["16 1.5"]
    assert closes(record) == 1


def test_streamed_body_without_length_is_counted_chunk_by_chunk(log: Capture) -> None:
    chunks = [b"x" * 1000] * 50 + [b""]
    app, _ = make_app("generator", chunks, headers=[("Content-Type", "text/event-stream")])
    drive(logged(app, log, format="{size}"))
    assert log.lines == ["50000"]


def test_client_disconnect_is_marked(log: Capture) -> None:
    app, record = make_app("generator", CHUNKS)
    drive(logged(app, log), stop_after=1, environ={"HTTP_X_REQUEST_ID": "gone"})
    (line,) = log.lines
    assert line.endswith(' 200 6 "-" "-" 1.500 gone disconnected')
    assert log.records[0].__dict__["outcome"] == "disconnected"
    assert closes(record) == 1


@pytest.mark.parametrize("kind", [list, tuple])
@pytest.mark.parametrize(
    ("stop_after", "expected"),
    [(None, "16 completed"), (2, "11 disconnected"), (0, "0 disconnected")],
)
def test_a_list_body_is_counted_from_what_the_server_took(
    kind: type, stop_after: int | None, expected: str, log: Capture
) -> None:
    # A real list (or tuple) goes to the server as its own iterator: the chunks the server
    # took, and so the bytes and the outcome, are read from the iterator at close().
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return kind(CHUNKS)

    result = drive(logged(app, log, format="{size} {outcome}"), stop_after=stop_after)
    assert result.body == b"".join(CHUNKS[:stop_after])
    assert log.lines == [expected]


def test_a_list_body_closed_twice_logs_once(log: Capture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ab", b"c"]

    body: Any = logged(app, log, format="{size} {outcome}")(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda s, h, e=None: None
    )
    assert list(body) == [b"ab", b"c"]
    body.close()
    body.close()
    assert log.lines == ["3 completed"]


def test_start_response_goes_to_the_server_at_once_with_the_id(log: Capture) -> None:
    # Nothing is deferred: a generator that starts the response and then waits (a stream whose
    # first event comes later) has its headers at the server before its first chunk.
    seen: list[object] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        seen.append("started")
        yield b"data: 1\n\n"

    def server_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append(dict(headers)["X-Request-ID"])
        return lambda data: None

    body: Any = logged(app, log)(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_X_REQUEST_ID": "sse-1"}, server_start
    )
    iterator = iter(body)
    assert next(iterator) == b"data: 1\n\n"
    assert seen == ["sse-1", "started"]
    body.close()
    assert len(log.lines) == 1


def test_a_second_start_response_without_exc_info_is_refused(log: Capture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"never"]

    with pytest.raises(RuntimeError, match="second time"):
        drive(logged(app, log, format="{status} {outcome} {error_type}"), validate=False)
    assert log.lines == ["500 error RuntimeError"]


def test_file_wrapper_reaches_the_server_as_its_own_class(log: Capture) -> None:
    app, record = make_app("file_wrapper", CHUNKS)
    result = drive(logged(app, log, format="{size} {outcome}"), validate=False)
    assert isinstance(result.server_body, FileWrapper)  # environ["wsgi.file_wrapper"]
    assert result.server_body is not record["body"]
    assert result.body == b"alpha beta gamma"
    assert log.lines == ["16 completed"]
    assert record["file"].close_calls == 1


def test_file_wrapper_size_comes_from_the_file_position(log: Capture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        handle = open(os.devnull, "rb")  # noqa: SIM115 - closed by the server via the wrapper
        return environ["wsgi.file_wrapper"](handle, 8192)

    result = drive(logged(app, log, format="{size}"), validate=False)
    assert isinstance(result.server_body, FileWrapper)
    assert log.lines == ["0"]


# --- errors --------------------------------------------------------------------------------------


def test_app_exception_is_logged_as_500_and_raised(log: Capture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        drive(logged(app, log), environ={"HTTP_X_REQUEST_ID": "bad-1"})
    (line,) = log.lines
    assert '"GET / HTTP/1.0" 500 - "-" "-" 1.500 bad-1 error=KeyError' in line


def test_exception_before_the_first_byte_is_a_500(log: Capture) -> None:
    body = Body(CHUNKS, raise_at=0)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(ValueError, match="boom"):
        drive(logged(app, log, format="{status} {size} {outcome} {error_type}"))
    assert log.lines == ["500 0 error ValueError"]
    assert body.closed == 1


def test_exception_mid_body_keeps_the_status_that_was_sent(log: Capture) -> None:
    # 200 and 6 bytes already left; the client saw a 200 cut short, and that is what is logged.
    body = Body(CHUNKS, raise_at=1)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(ValueError, match="boom"):
        drive(logged(app, log, format="{status} {size} {outcome} {error_type}"))
    assert log.lines == ["200 6 error ValueError"]
    assert body.closed == 1


@pytest.mark.parametrize("status", ["\u00b200 OK", "2\u00b90 OK", "abc Weird"])
def test_a_status_without_a_code_is_logged_as_0(log: Capture, status: str) -> None:
    # "²00".isdigit() is true but int() refuses it: an app's bad status line (which the PEP 3333
    # validator would refuse, hence validate=False) must not make the log write raise.
    app, record = make_app("list", [b"abc"], status=status)
    result = drive(logged(app, log, format="{status} {size} {outcome}"), validate=False)
    assert result.body == b"abc"
    assert log.lines == ["0 3 completed"]
    assert closes(record) == 1


def test_exception_in_close_is_logged_and_raised(log: Capture) -> None:
    body = Body(CHUNKS, close_raises=True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(OSError, match="boom in close"):
        drive(logged(app, log, format="{status} {size} {outcome} {error_type}"))
    assert log.lines == ["200 16 error OSError"]
    assert body.closed == 1


@pytest.mark.parametrize("form", ["list", "generator"])
def test_an_empty_body_whose_close_raises_keeps_the_status_sent(form: str, log: Capture) -> None:
    # The body ran to its end, so the server sent the 204 (the headers go out when the body is
    # exhausted, PEP 3333) before close() raised: the client got a 204, not a 500.
    inner, record = make_app(form, [], status="204 No Content", headers=[])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = inner(environ, start_response)
        body.close_raises = True  # a teardown error
        return body  # type: ignore[no-any-return]

    with pytest.raises(OSError, match="boom in close"):
        drive(logged(app, log, format="{status} {size} {outcome} {error_type}"))
    assert log.lines == ["204 0 error OSError"]
    assert closes(record) == 1


def test_a_body_that_never_started_a_response_and_whose_close_raises_is_a_500(
    log: Capture,
) -> None:
    # No status was ever given: the server answers 500 whatever the body did.
    body = Body([], close_raises=True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return body

    with pytest.raises(OSError, match="boom in close"):
        drive(logged(app, log, format="{status} {size} {outcome} {error_type}"))
    assert log.lines == ["500 0 error OSError"]
    assert body.closed == 1


def test_error_page_via_exc_info_is_logged_with_its_status(log: Capture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise RuntimeError("render failed")
        except RuntimeError:
            import sys

            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"sorry"]

    result = drive(logged(app, log, format="{status} {size} {outcome}"))
    assert result.status == "503 Service Unavailable"
    assert log.lines == ["503 5 completed"]


# --- escaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "raw", "escaped"),
    [
        pytest.param("PATH_INFO", "/a\nb", "/a\\x0ab", id="newline"),
        pytest.param("PATH_INFO", "/a\r\nfake line", "/a\\x0d\\x0afake line", id="crlf"),
        pytest.param("PATH_INFO", '/a"b', "/a\\x22b", id="quote"),
        pytest.param("PATH_INFO", "/a\\b", "/a\\x5cb", id="backslash"),
        pytest.param("PATH_INFO", "/\x1b[2J", "/\\x1b[2J", id="ansi"),
        pytest.param("PATH_INFO", "/\xff\xfe", "/\\xff\\xfe", id="invalid-utf8"),
        pytest.param("PATH_INFO", "/caf\xc3\xa9", "/café", id="valid-utf8"),
        pytest.param("PATH_INFO", "/\xc3\xa9\\\xff", "/é\\x5c\\xff", id="utf8-backslash-invalid"),
        pytest.param("PATH_INFO", "/\xc2\x85x", "/\\x85x", id="nel-c1"),
        pytest.param("PATH_INFO", "/\xe2\x80\xa8x", "/\\u2028x", id="line-separator"),
        pytest.param("PATH_INFO", "/\xe2\x80\xaex", "/\\u202ex", id="bidi-override"),
        pytest.param("HTTP_USER_AGENT", 'x" "forged', "x\\x22 \\x22forged", id="ua-quote"),
        pytest.param("HTTP_REFERER", "http://a/\x00", "http://a/\\x00", id="referer-nul"),
        pytest.param("REQUEST_METHOD", "GE\tT", "GE\\x09T", id="method-tab"),
        pytest.param("REMOTE_USER", "bob\x7f", "bob\\x7f", id="user-del"),
    ],
)
def test_injection_attempts_are_escaped(key: str, raw: str, escaped: str, log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", key: raw}
    for fmt in ("combined", "json"):
        body = logged(app, log, format=fmt)(dict(environ), lambda s, h, e=None: None)
        body.close()  # type: ignore[attr-defined]
    line, json_line = log.lines
    assert escaped in line
    assert line.isprintable()
    assert line.count('"') == 6  # exactly the quotes of the three quoted fields
    assert json_line.isprintable()
    values = json.loads(json_line).values()
    assert any(escaped in (v[0] if isinstance(v, list) else str(v)) for v in values)


def test_query_string_is_escaped_after_redaction(log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    drive(logged(app, log, format="{query}"), environ={"QUERY_STRING": "a=\r\n&password=x\x1b"})
    assert log.lines == ["a=\\x0d\\x0a&password=REDACTED"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_any_bytes_in_a_path_give_one_printable_field(data: bytes) -> None:
    field = escape("/" + data.decode("latin-1"))
    assert field.isprintable()
    assert '"' not in field
    # Every backslash starts one of our escapes, so the field can be read back unambiguously.
    assert re.fullmatch(r"(?:[^\\]|\\x[0-9a-f]{2}|\\u[0-9a-f]{4})*", field)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_text_gives_one_printable_field(text: str) -> None:
    field = escape_text(text)
    assert field.isprintable()
    assert '"' not in field


def test_clean_ascii_is_left_alone() -> None:
    assert escape("/plain/path-1.html") == "/plain/path-1.html"
    assert escape_text("ValueError") == "ValueError"


# --- redaction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("a=1&b=2", "a=1&b=2", id="nothing"),
        pytest.param("token=abc", "token=REDACTED", id="token"),
        pytest.param("TOKEN=abc&Password=p", "TOKEN=REDACTED&Password=REDACTED", id="any-case"),
        pytest.param(
            "X-Amz-Signature=f00&X-Amz-Credential=AK%2F1&X-Amz-Date=1",
            "X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Date=1",
            id="aws-presigned",
        ),
        pytest.param("sv=1&sig=abc%3D", "sv=1&sig=REDACTED", id="azure-sas"),
        pytest.param("%74oken=abc&x=%41", "%74oken=REDACTED&x=%41", id="percent-encoded-name"),
        pytest.param("token=&a=1", "token=&a=1", id="empty-value"),
        pytest.param("tokens=1&mytoken=2", "tokens=1&mytoken=2", id="similar-names"),
        pytest.param("api_key=k&key=k2", "api_key=REDACTED&key=REDACTED", id="api-keys"),
    ],
)
def test_default_redaction(query: str, expected: str, log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    drive(logged(app, log, format="{query}"), environ={"QUERY_STRING": query})
    assert log.lines == [expected]


def test_redaction_is_configurable() -> None:
    redact = make_redactor(["code", "State"])
    assert redact("code=abc&state=x&token=t") == "code=REDACTED&state=REDACTED&token=t"
    assert make_redactor([])("token=t") == "token=t"


def test_redaction_names_from_a_generator_are_all_used(log: Capture) -> None:
    # The annotation is Iterable[str]: a one-shot iterable is read once, checked and kept.
    app, _ = make_app("list", [b"ok"])
    names = (name for name in ["token", "code"])
    drive(
        logged(app, log, format="{query}", redact_query_params=names),
        environ={"QUERY_STRING": "token=s3cret&code=abc&a=1"},
    )
    assert log.lines == ["token=REDACTED&code=REDACTED&a=1"]


def test_redaction_can_be_turned_off(log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    drive(
        logged(app, log, format="{query}", redact_query_params=()),
        environ={"QUERY_STRING": "token=t"},
    )
    assert log.lines == ["token=t"]


# --- request ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given_id",
    [
        pytest.param("req-42", id="simple"),
        pytest.param("0f8fad5b-d9cb-469f-a165-70867728950e", id="uuid"),
        pytest.param("abc+/=._~:@", id="base64-ish"),
        pytest.param("a" * 128, id="128-chars"),
    ],
)
def test_well_formed_request_id_is_accepted(given_id: str, log: Capture) -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(environ["middlewares.request_id"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request-ID", "app's own")])
        return [b"ok"]

    result = drive(logged(app, log, format="{request_id}"), environ={"HTTP_X_REQUEST_ID": given_id})
    assert seen == [given_id]
    assert [v for k, v in result.headers if k.lower() == "x-request-id"] == [given_id]
    assert log.lines == [given_id]


@pytest.mark.parametrize(
    "given_id",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 129, id="too-long"),
        pytest.param("a b", id="space"),
        pytest.param("a\nb", id="newline"),
        pytest.param('a"b', id="quote"),
        pytest.param("caf\xc3\xa9", id="non-ascii"),
        pytest.param("a;b", id="semicolon"),
    ],
)
def test_malformed_request_id_is_replaced(given_id: str, log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    result = drive(logged(app, log, format="{request_id}"), environ={"HTTP_X_REQUEST_ID": given_id})
    (line,) = log.lines
    assert HEX_ID.fullmatch(line)
    assert ("X-Request-ID", line) in result.headers


def test_generated_ids_differ(log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    mw = logged(app, log, format="{request_id}")
    for _ in range(20):
        drive(mw)
    assert len(set(log.lines)) == 20
    assert all(HEX_ID.fullmatch(line) for line in log.lines)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_generated_ids_differ_in_a_forked_worker(log: Capture) -> None:
    # gunicorn forks workers from one loaded app: they must not repeat each other's ids.
    app, _ = make_app("list", [b"ok"])
    mw = logged(app, log, format="{request_id}")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            drive(mw)
            os.write(write_end, log.lines[-1].encode())
        finally:
            os._exit(0)
    os.close(write_end)
    drive(mw)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        child_id = pipe.read().decode()
    assert HEX_ID.fullmatch(child_id)
    assert child_id != log.lines[-1]


def test_custom_header_name_and_no_header(log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    environ = {"HTTP_X_CORRELATION_ID": "corr-1", "HTTP_X_REQUEST_ID": "req-1"}
    custom = drive(
        logged(app, log, format="{request_id}", request_id_header="X-Correlation-ID"),
        environ=environ,
    )
    assert ("X-Correlation-ID", "corr-1") in custom.headers
    none = drive(logged(app, log, format="{request_id}", request_id_header=None), environ=environ)
    assert not any(k.lower().endswith("-id") for k, _ in none.headers)
    assert log.lines[0] == "corr-1"
    assert HEX_ID.fullmatch(log.lines[1])


def test_an_outer_logger_id_is_reused(log: Capture) -> None:
    app, _ = make_app("list", [b"ok"])
    inner = logged(app, log, format="inner {request_id}")
    outer = logged(inner, log, format="outer {request_id}")
    result = drive(outer, environ={"HTTP_X_REQUEST_ID": "attacker-picked-later"})
    assert log.lines == ["inner attacker-picked-later", "outer attacker-picked-later"]
    assert [v for k, v in result.headers if k == "X-Request-ID"] == ["attacker-picked-later"]


# --- the request id in the application's own logs --------------------------------------------


@pytest.mark.parametrize("inner", ["none", "cors", "compress"])
def test_app_logs_carry_the_request_id_during_call_iteration_and_close(
    inner: str, log: Capture
) -> None:
    """Also through inner middlewares whose own body wraps the app's generator."""
    app_log = logging.getLogger(log_name(log) + ".app")
    app_log.propagate = False
    app_log.setLevel(logging.INFO)
    mine = Capture(app_log)
    mine.addFilter(RequestIdFilter())
    mine.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    app_log.addHandler(mine)

    class Closing:
        def __iter__(self) -> Iterator[bytes]:
            app_log.info("chunk 1")
            yield b"a"
            app_log.info("chunk 2")
            yield b"b"

        def close(self) -> None:
            app_log.info("close sees %s", current_request_id())

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app_log.info("call")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing()

    wrapped: Any = app
    if inner == "cors":
        wrapped = CORS(app, allow_origins=["https://a.example"])
    elif inner == "compress":  # a streamed text body: Compress filters every chunk
        wrapped = Compress(app, min_size=1)
    environ = {"HTTP_X_REQUEST_ID": "ctx-1", "HTTP_ACCEPT_ENCODING": "gzip"}
    try:
        drive(logged(wrapped, log, format="{request_id}"), environ=environ)
        app_log.info("after")
    finally:
        app_log.removeHandler(mine)
    assert mine.lines == [
        "ctx-1 call",
        "ctx-1 chunk 1",
        "ctx-1 chunk 2",
        "ctx-1 close sees ctx-1",
        "- after",
    ]
    assert current_request_id() is None
    assert request_id_var.get() is None


def test_context_variables_a_body_sets_stay_in_that_body(log: Capture) -> None:
    # Each step of a generator body runs in one copy of the server's context: what the app
    # sets there is seen by its later steps and its close(), and never by the server's thread.
    from contextvars import ContextVar

    user: ContextVar[str] = ContextVar("user", default="nobody")
    seen: list[str] = []

    class Stream:
        def __iter__(self) -> Iterator[bytes]:
            user.set("alice")
            yield b"a"
            seen.append(user.get())
            yield b"b"

        def close(self) -> None:
            seen.append(f"close {user.get()} {current_request_id()}")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Stream()

    result = drive(
        logged(app, log, format="{size} {outcome}"), environ={"HTTP_X_REQUEST_ID": "c-1"}
    )
    assert result.body == b"ab"
    assert seen == ["alice", "close alice c-1"]
    assert user.get() == "nobody"
    assert request_id_var.get() is None
    assert log.lines == ["2 completed"]


def test_bodies_that_run_no_app_code_are_told_apart() -> None:
    from middlewares._wsgi import Responder

    def listed(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"x" * 600]

    def generated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"x" * 600

    environ = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT_ENCODING": "gzip"}
    around_list = Compress(listed)(dict(environ), lambda *a: None)
    around_generator = Compress(generated)(dict(environ), lambda *a: None)
    around_around = Compress(Compress(listed))(dict(environ), lambda *a: None)
    try:
        assert Responder.runs_no_app_code([b"x"])
        assert Responder.runs_no_app_code((b"x",))
        assert Responder.runs_no_app_code(around_list)
        assert Responder.runs_no_app_code(around_around)
        assert not Responder.runs_no_app_code(around_generator)
        assert not Responder.runs_no_app_code(iter([b"x"]))
    finally:
        for body in (around_list, around_generator, around_around):
            body.close()  # type: ignore[attr-defined]


def test_filter_keeps_the_access_records_own_id_and_takes_options(log: Capture) -> None:
    log.addFilter(RequestIdFilter(attribute="rid", default="none"))
    log.setFormatter(logging.Formatter("%(rid)s|%(request_id)s"))
    token = request_id_var.set("outer")
    try:
        app, _ = make_app("list", [b"ok"])
        drive(logged(app, log), environ={"HTTP_X_REQUEST_ID": "inner"})
    finally:
        request_id_var.reset(token)
    assert log.lines == ["outer|inner"]  # "rid" from the context: the access line runs at close
    with pytest.raises(ValueError, match="attribute"):
        RequestIdFilter(attribute="not valid")


# --- the rest of the contract ------------------------------------------------------------------


def test_disabled_level_logs_nothing_and_still_closes(log: Capture) -> None:
    app, record = make_app("generator", CHUNKS)
    result = drive(logged(app, log, level=logging.DEBUG))
    assert result.body == b"alpha beta gamma"
    assert log.lines == []
    assert closes(record) == 1


def test_logger_object_and_webtest_lint(log: Capture) -> None:
    app, _ = make_app("generator", CHUNKS)
    logger = logging.getLogger(log_name(log))
    test_app = TestApp(RequestLogger(app, logger=logger, format="{method} {path} {status}"))
    response = test_app.get("/hello", headers={"X-Request-ID": "wt-1"})
    assert response.body == b"alpha beta gamma"
    assert response.headers["X-Request-ID"] == "wt-1"
    assert log.lines == ["GET /hello 200"]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"format": "apache"}, ValueError, "format=", id="unknown-format-name"),
        pytest.param({"format": "{nope}"}, ValueError, "unknown fields", id="unknown-field"),
        pytest.param({"format": "{path.x}"}, ValueError, "unknown fields", id="attribute"),
        pytest.param({"format": "{status:q}"}, ValueError, "cannot format", id="bad-spec"),
        pytest.param(
            {"format": "{duration_ms:{width}}"}, ValueError, "format=.*KeyError", id="nested-field"
        ),
        pytest.param(
            {"format": "{path:{path[9]}}"}, ValueError, "format=.*IndexError", id="nested-index"
        ),
        pytest.param({"format": "{path"}, ValueError, "not a valid format", id="unbalanced"),
        pytest.param({"format": 3}, TypeError, "format", id="not-a-string"),
        pytest.param({"logger": 3}, TypeError, "logger", id="logger"),
        pytest.param({"level": "LOUD"}, ValueError, "level=", id="level-name"),
        pytest.param({"level": 2.5}, TypeError, "level", id="level-type"),
        pytest.param({"level": True}, TypeError, "level", id="level-bool"),
        pytest.param({"request_id_header": "X Id"}, ValueError, "request_id_header", id="hdr"),
        pytest.param({"request_id_header": ""}, ValueError, "request_id_header", id="hdr-empty"),
        pytest.param({"redact_query_params": "token"}, TypeError, "redact", id="redact-str"),
        pytest.param({"redact_query_params": [1]}, TypeError, "redact", id="redact-int"),
        pytest.param({"redact_query_params": 3}, TypeError, "redact", id="redact-not-iterable"),
    ],
)
def test_bad_configuration_is_refused_by_name(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    app, _ = make_app("list", [b"ok"])
    with pytest.raises(error, match=match):
        RequestLogger(app, **options)


class _ClosingList(list[bytes]):
    """A list body with a close() of the application's (a PEP 3333 iterable like any other)."""

    seen: list[str | None]

    def close(self) -> None:
        self.seen.append(current_request_id())


@pytest.mark.parametrize("inner", [lambda app: app, Compress], ids=["direct", "under-Compress"])
def test_the_close_of_a_list_subclass_runs_with_the_request_id(inner: Any) -> None:
    body = _ClosingList([b"hello"])
    body.seen = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    drive(RequestLogger(inner(app)), environ={"HTTP_X_REQUEST_ID": "req-42"})
    assert body.seen == ["req-42"]
