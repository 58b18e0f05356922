"""Compress: negotiation, skip rules, headers, streaming, HEAD, close(), BREACH padding."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults
from wsgiref.validate import validator

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from middlewares import _codecs
from middlewares.compress import Compress
from tests.wsgi_helpers import Body, closes, drive, make_app

PAGE = b"<html><body>" + b"<p>Hello, compressible world!</p>\n" * 100 + b"</body></html>"
HTML = [("Content-Type", "text/html; charset=utf-8")]


def zstd_decompressor() -> Any:
    binding = _codecs.zstd_module()
    assert binding is not None
    kind, module = binding
    if kind == "stdlib":
        return module.ZstdDecompressor()
    return module.ZstdDecompressor().decompressobj()


def decoder(coding: str) -> Callable[[bytes], bytes]:
    """An incremental decoder: call it with each piece, get the bytes decoded so far."""
    if coding == "gzip":
        return zlib.decompressobj(31).decompress
    if coding == "br":
        return brotli.Decompressor().process  # type: ignore[no-any-return]
    return zstd_decompressor().decompress  # type: ignore[no-any-return]


def decode(coding: str | None, data: bytes) -> bytes:
    return data if coding is None else decoder(coding)(data)


def header(result: Any, name: str) -> str | None:
    values = [v for k, v in result.headers if k.lower() == name.lower()]
    assert len(values) <= 1, f"{name} repeated: {values}"
    return values[0] if values else None


def env(accept: str | None = "gzip, deflate, br", method: str = "GET") -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method}
    if accept is not None:
        environ["HTTP_ACCEPT_ENCODING"] = accept
    return environ


def static(body: Iterable[bytes], headers: list[tuple[str, str]], status: str = "200 OK") -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response(status, list(headers))
        return body

    return app


def pieces(app: Any, environ: dict[str, Any]) -> tuple[list[tuple[str, str]], list[bytes]]:
    """Run ``app`` through the validator; return the headers and each chunk as the server saw it."""
    environment: dict[str, Any] = {"wsgi.file_wrapper": FileWrapper, "QUERY_STRING": ""}
    setup_testing_defaults(environment)
    environment.update(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["headers"] = headers
        return lambda data: None

    body = validator(app)(environment, start_response)
    try:
        out = list(body)
    finally:
        body.close()
    return seen["headers"], out


# --- negotiation -----------------------------------------------------------------------------

ALL = ("br", "gzip", "zstd")


@pytest.mark.parametrize(
    ("accept", "encodings", "expected"),
    [
        pytest.param("gzip", ALL, "gzip", id="gzip"),
        pytest.param("br", ALL, "br", id="br"),
        pytest.param("zstd", ALL, "zstd", id="zstd"),
        pytest.param("gzip, br", ("br", "gzip"), "br", id="server-order-br"),
        pytest.param("gzip, br", ("gzip", "br"), "gzip", id="server-order-gzip"),
        pytest.param("br;q=0.5, gzip", ALL, "gzip", id="q-prefers-gzip"),
        pytest.param("br;q=0.001, gzip;q=0.002", ALL, "gzip", id="tiny-q"),
        pytest.param("gzip;q=0", ("gzip",), None, id="gzip-q0"),
        pytest.param("gzip;q=0, br", ("gzip",), None, id="gzip-q0-br-not-offered"),
        pytest.param("gzip;q=0, *", ("gzip", "br"), "br", id="star-but-not-gzip"),
        pytest.param("*", ("br", "gzip"), "br", id="star"),
        pytest.param("*;q=0", ALL, None, id="star-q0"),
        pytest.param("*, br;q=0", ("br", "gzip"), "gzip", id="star-minus-br"),
        pytest.param("identity", ALL, None, id="identity"),
        pytest.param("gzip;q=0.5, identity", ALL, None, id="identity-weighs-more"),
        pytest.param("identity;q=1, br;q=0.1, gzip;q=0.1", ALL, None, id="identity-first"),
        pytest.param("gzip, identity", ALL, "gzip", id="identity-tie-compresses"),
        pytest.param("gzip;q=0.5, *", ("gzip",), None, id="identity-through-star"),
        pytest.param("gzip;q=0.5, identity;q=0.1", ALL, "gzip", id="identity-weighs-less"),
        pytest.param("gzip;q=0.5", ALL, "gzip", id="identity-not-weighed"),
        pytest.param("", ALL, None, id="empty"),
        pytest.param(None, ALL, None, id="absent"),
        pytest.param("GZIP", ALL, "gzip", id="upper-case"),
        pytest.param("  gzip ;  q=0.5 ,  ", ALL, "gzip", id="whitespace"),
        pytest.param("gzip;q=abc", ALL, None, id="bad-q-ignored"),
        pytest.param("gzip;q=1.5", ALL, None, id="q-out-of-range"),
        pytest.param("deflate, compress", ALL, None, id="not-offered"),
        pytest.param(",,;;=,\x00garbage;q=", ALL, None, id="garbage"),
    ],
)
def test_negotiation(accept: str | None, encodings: tuple[str, ...], expected: str | None) -> None:
    app = Compress(static([PAGE], HTML), encodings=encodings)
    result = drive(app, environ=env(accept))
    assert result.status == "200 OK"
    assert header(result, "Content-Encoding") == expected
    assert decode(expected, result.body) == PAGE
    assert header(result, "Vary") == "Accept-Encoding"


# --- when not to compress --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        pytest.param("204 No Content", HTML, [], id="204"),
        pytest.param("205 Reset Content", HTML, [], id="205"),
        pytest.param("205 Reset Content", HTML, [b""], id="205-empty-chunk"),
        pytest.param("304 Not Modified", HTML, [], id="304"),
        pytest.param(
            "206 Partial Content", [*HTML, ("Content-Range", "bytes 0-99/9999")], [PAGE], id="206"
        ),
        pytest.param("200 OK", [*HTML, ("Content-Range", "bytes */10")], [PAGE], id="range"),
        pytest.param("200 OK", [*HTML, ("Content-Encoding", "gzip")], [PAGE], id="encoded"),
        pytest.param(
            "200 OK", [*HTML, ("Cache-Control", "public, No-Transform")], [PAGE], id="no-transform"
        ),
        pytest.param(
            "200 OK",
            [*HTML, ("Cache-Control", "max-age=60"), ("Cache-Control", "no-transform")],
            [PAGE],
            id="no-transform-second-line",
        ),
        pytest.param("200 OK", [("Content-Type", "image/png")], [PAGE], id="type"),
        pytest.param("200 OK", [], [PAGE], id="no-type"),
        pytest.param("200 OK", HTML, [b"x" * 499], id="below-min-size-list"),
        pytest.param("200 OK", HTML, [b""], id="empty-list-of-one"),
        pytest.param("200 OK", HTML, [], id="empty-list"),
        pytest.param("200 OK", HTML, [os.urandom(2000)], id="incompressible"),
    ],
)
def test_left_alone(status: str, headers: list[tuple[str, str]], body: list[bytes]) -> None:
    length = str(sum(map(len, body)))
    if status[:3] not in ("204", "304"):
        headers = [*headers, ("Content-Length", length)]
    # wsgiref.validate rejects a Content-Type on 204/304 (which apps still send) and a response
    # without one (which HTTP allows): those run unvalidated, to show Compress leaves them alone.
    validate = status[:3] not in ("204", "304") and any(k == "Content-Type" for k, _ in headers)
    result = drive(Compress(static(body, headers, status)), environ=env(), validate=validate)
    assert result.status == status
    assert header(result, "Content-Encoding") == dict((k.lower(), v) for k, v in headers).get(
        "content-encoding"
    )
    assert result.body == b"".join(body)
    assert header(result, "Content-Length") == (None if status[:3] in ("204", "304") else length)


def test_streamed_body_with_small_content_length_left_alone() -> None:
    app, record = make_app("generator", [b"tiny"], headers=[*HTML, ("Content-Length", "4")])
    result = drive(Compress(app), environ=env())
    assert header(result, "Content-Encoding") is None
    assert header(result, "Content-Length") == "4"
    assert result.body == b"tiny"
    assert closes(record) == 1


@pytest.mark.parametrize("form", ["list", "write", "file_wrapper"])
def test_settled_by_headers_the_server_gets_the_apps_own_body(form: str) -> None:
    # A known length below min_size (or a type not to compress) settles it when the app calls
    # start_response: the response goes on at once and the body is the app's, untouched.
    app, record = make_app(form, [b"tiny"], headers=[*HTML, ("Content-Length", "4")])
    seen: list[Any] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "HTTP_ACCEPT_ENCODING": "gzip",
        "wsgi.file_wrapper": FileWrapper,
    }
    body = Compress(app)(environ, lambda s, h, e=None: seen.append(h) or (lambda data: None))
    assert body is record["body"]
    assert ("Vary", "Accept-Encoding") in seen[0]
    result = drive(Compress(app), environ=env("gzip"), validate=form != "file_wrapper")
    assert result.body == b"tiny"
    assert header(result, "Vary") == "Accept-Encoding"
    assert header(result, "Content-Encoding") is None


@pytest.mark.parametrize(
    "length", ["\u00b2", "1\u00b9", " 12 ", "", "-4", "0x10", "9" * 5000, "0" * 5000 + "12"]
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("form", ["list", "generator"])
def test_content_length_that_is_not_a_length_never_crashes(
    length: str, method: str, form: str
) -> None:
    # "²".isdigit() is true but int("²") raises: an app's odd header must not become a 500.
    app = Compress(make_app(form, [PAGE], headers=[*HTML, ("Content-Length", length)])[0])
    result = drive(app, environ=env("gzip", method=method))
    assert result.status == "200 OK"
    if length == "9" * 5000:  # more digits than int() takes: absurd, not a length to use
        assert header(result, "Content-Encoding") == ("gzip" if method == "GET" else None)
    elif length.strip().isdigit() and length.strip().isascii():
        # " 12 ", and 12 after 5000 zeros: a length below min_size
        assert header(result, "Content-Encoding") is None
    elif method == "GET":  # not a length: the body decides, and the page is worth it
        assert header(result, "Content-Encoding") == "gzip"
        assert decode("gzip", result.body) == PAGE
    else:  # HEAD of a body with no real length: a GET might not compress, claim nothing
        assert header(result, "Content-Encoding") is None


def test_restart_after_a_settled_start_is_sent_uncompressed() -> None:
    # The first response went to the server at once (an image); the app restarts with an HTML
    # error page before any body.  The app may still hold the server's own write(), so the
    # error page is not compressed; it still says that the URL varies.
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "image/png")])
        try:
            raise RuntimeError("failed before the body")
        except RuntimeError:
            import sys

            start_response("500 Internal Server Error", HTML, sys.exc_info())
        return [PAGE]

    result = drive(Compress(app), environ=env("gzip"))
    assert result.status.startswith("500")
    assert header(result, "Content-Encoding") is None
    assert header(result, "Vary") == "Accept-Encoding"
    assert result.body == PAGE


def test_min_size_zero_compresses_small_bodies() -> None:
    result = drive(Compress(static([b"a" * 100], HTML), min_size=0), environ=env("gzip"))
    assert header(result, "Content-Encoding") == "gzip"
    assert decode("gzip", result.body) == b"a" * 100


@pytest.mark.parametrize(
    ("content_type", "patterns", "expected"),
    [
        pytest.param("text/html; charset=utf-8", None, True, id="text-star"),
        pytest.param("TEXT/CSS", None, True, id="case"),
        pytest.param("application/problem+json", None, True, id="plus-json"),
        pytest.param("application/atom+xml", None, True, id="plus-xml"),
        pytest.param("image/svg+xml", None, True, id="svg"),
        pytest.param("application/wasm", None, True, id="wasm"),
        pytest.param("image/png", None, False, id="png"),
        pytest.param("application/octet-stream", None, False, id="octet"),
        pytest.param("application/json", ["text/*"], False, id="custom-excludes"),
        pytest.param("application/x-custom", ["application/x-custom"], True, id="custom"),
        pytest.param("garbage", None, False, id="garbage"),
    ],
)
def test_mimetypes(content_type: str, patterns: list[str] | None, expected: bool) -> None:
    mw = Compress(static([], []), **({"mimetypes": patterns} if patterns else {}))
    assert mw.compressible(content_type) is expected


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vary", "accept", "expected"),
    [
        pytest.param(None, None, "Accept-Encoding", id="uncompressed"),
        pytest.param(None, "gzip", "Accept-Encoding", id="compressed"),
        pytest.param("Cookie", "gzip", "Cookie, Accept-Encoding", id="merged"),
        pytest.param("accept-encoding, Cookie", "gzip", "accept-encoding, Cookie", id="no-dup"),
        pytest.param("*", "gzip", "*", id="star"),
    ],
)
def test_vary(vary: str | None, accept: str | None, expected: str) -> None:
    headers = HTML + ([("Vary", vary)] if vary else [])
    result = drive(Compress(static([PAGE], headers)), environ=env(accept))
    assert header(result, "Vary") == expected


def test_empty_streamed_body_is_left_alone() -> None:
    # A generator that yields nothing: the body is known to be empty when the response starts.
    app = Compress(make_app("generator", [], headers=HTML)[0])
    result = drive(app, environ=env("gzip"))
    assert result.body == b""
    assert header(result, "Content-Encoding") is None
    assert header(result, "Vary") == "Accept-Encoding"


@pytest.mark.parametrize("name", ["Content-Digest", "Repr-Digest", "Content-MD5"])
def test_a_digest_of_the_content_leaves_it_alone(name: str) -> None:
    # RFC 9530: the digest covers the content as sent; compressing would make it false, and
    # dropping it would break a signature that covers it (RFC 9421).
    headers = [*HTML, (name, "sha-256=:AAAA:")]
    result = drive(Compress(make_app("generator", [PAGE], headers=headers)[0]), environ=env())
    assert header(result, "Content-Encoding") is None
    assert header(result, name) == "sha-256=:AAAA:"
    assert result.body == PAGE
    assert header(result, "Vary") == "Accept-Encoding"


def _conditional_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """A framework's conditional response (WebOb): a strong ETag, a 304 without a type."""
    from webob import Response

    response = Response(body=PAGE, content_type="text/html", conditional_response=True)
    response.etag = "v1"
    return response(environ, start_response)


@pytest.mark.parametrize(
    ("accept", "held", "etag", "vary"),
    [
        pytest.param("gzip", 'W/"v1"', 'W/"v1"', "Accept-Encoding", id="holds-compressed"),
        pytest.param("gzip", '"v0", W/"v1"', 'W/"v1"', "Accept-Encoding", id="in-a-list"),
        pytest.param("gzip", '"v1"', '"v1"', None, id="holds-identity"),
        pytest.param(None, 'W/"v1"', '"v1"', None, id="would-not-compress-now"),
    ],
)
def test_304_without_a_type_gets_the_etag_and_vary_of_its_200(
    accept: str | None, held: str, etag: str, vary: str | None
) -> None:
    # RFC 9110 section 15.4.5: a 304 sends the ETag and Vary its 200 would have sent; the
    # client holding W/"v1" holds our compressed copy (RFC 9111 section 4.3.4).
    app = Compress(_conditional_app)
    environ = {**env(accept), "HTTP_IF_NONE_MATCH": held}
    result = drive(app, environ=environ)
    assert result.status.startswith("304")
    assert header(result, "ETag") == etag
    assert header(result, "Vary") == vary


def test_304_revalidates_the_compressed_200() -> None:
    app = Compress(_conditional_app)
    first = drive(app, environ=env("gzip"))
    assert header(first, "Content-Encoding") == "gzip"
    second = drive(app, environ={**env("gzip"), "HTTP_IF_NONE_MATCH": header(first, "ETag")})
    assert second.status.startswith("304")
    assert header(second, "ETag") == header(first, "ETag") == 'W/"v1"'
    assert header(second, "Vary") == header(first, "Vary") == "Accept-Encoding"


def test_304_of_an_image_gets_no_vary() -> None:
    # A 304 without a type that does not stand for a compressed 200: Vary would spread to the
    # cached image when the 304 freshens it.
    app = Compress(static([], [("ETag", '"img"')], "304 Not Modified"))
    result = drive(app, environ={**env("gzip"), "HTTP_IF_NONE_MATCH": '"img"'})
    assert header(result, "Vary") is None
    assert header(result, "ETag") == '"img"'


def test_vary_on_small_and_304_but_not_on_other_types() -> None:
    small = drive(Compress(static([b"hi"], HTML)), environ=env())
    # unvalidated: wsgiref.validate refuses a Content-Type on 304, which real apps send
    not_modified = drive(
        Compress(static([], HTML, "304 Not Modified")), environ=env(), validate=False
    )
    png = drive(Compress(static([PAGE], [("Content-Type", "image/png")])), environ=env())
    assert header(small, "Vary") == "Accept-Encoding"
    assert header(not_modified, "Vary") == "Accept-Encoding"
    assert header(png, "Vary") is None


@pytest.mark.parametrize(
    ("etag", "accept", "expected"),
    [
        pytest.param('"abc"', "gzip", 'W/"abc"', id="strong-weakened"),
        pytest.param('W/"abc"', "gzip", 'W/"abc"', id="weak-kept"),
        pytest.param('"abc"', None, '"abc"', id="uncompressed-kept"),
    ],
)
def test_etag(etag: str, accept: str | None, expected: str) -> None:
    result = drive(Compress(static([PAGE], [*HTML, ("ETag", etag)])), environ=env(accept))
    assert header(result, "ETag") == expected


def test_whole_body_gets_exact_length_in_one_piece() -> None:
    headers = [*HTML, ("Content-Length", str(len(PAGE))), ("Accept-Ranges", "bytes")]
    got_headers, out = pieces(Compress(static([PAGE], headers)), env("gzip"))
    result_headers = dict(got_headers)
    assert len(out) == 1
    assert result_headers["Content-Length"] == str(len(out[0])) != str(len(PAGE))
    assert "Accept-Ranges" not in result_headers
    assert zlib.decompress(out[0], 31) == PAGE


def test_tuple_of_several_chunks_is_one_whole_body() -> None:
    chunks = (PAGE[:100], PAGE[100:2000], PAGE[2000:])
    result = drive(Compress(static(chunks, HTML)), environ=env("br"))
    assert header(result, "Content-Length") == str(len(result.body))
    assert brotli.decompress(result.body) == PAGE


@pytest.mark.parametrize("form", ["generator", "write", "file_wrapper", "list"])
def test_streamed_forms_drop_content_length(form: str) -> None:
    headers = [*HTML, ("Content-Length", str(len(PAGE)))]
    app, record = make_app(form, [PAGE[:1000], PAGE[1000:]], headers=headers)
    result = drive(Compress(app), environ=env("gzip"))
    assert header(result, "Content-Encoding") == "gzip"
    assert header(result, "Content-Length") is None
    assert decode("gzip", result.body) == PAGE
    assert closes(record) == 1


# --- streaming -------------------------------------------------------------------------------


def generator_app(
    chunks: list[bytes], content_type: str = "text/plain", log: list[int] | None = None
) -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", content_type)])
        for index, chunk in enumerate(chunks):
            if log is not None:
                log.append(index)
            yield chunk

    return app


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_each_chunk_arrives_decodable(coding: str) -> None:
    chunks = [f"event {i}: {'x' * i}\n".encode() for i in range(1, 21)]
    produced: list[int] = []
    mw = Compress(generator_app(chunks, log=produced), encodings=ALL)
    environment: dict[str, Any] = {"HTTP_ACCEPT_ENCODING": coding, "QUERY_STRING": ""}
    setup_testing_defaults(environment)
    body = validator(mw)(environment, lambda status, headers, exc_info=None: None)
    feed = decoder(coding)
    decoded = b""
    try:
        for index, piece in enumerate(body):
            if index < len(chunks):
                # The app has produced exactly this chunk and no more: nothing waits.
                assert produced[-1] == index
                assert piece, f"chunk {index} produced an empty piece"
                decoded += feed(piece)
                assert decoded == b"".join(chunks[: index + 1])
            else:
                decoded += feed(piece)
    finally:
        body.close()
    assert decoded == b"".join(chunks)


def test_event_stream_is_flushed_even_in_batch_mode() -> None:
    chunks = [b"data: %d\n\n" % i for i in range(10)]
    sse = Compress(generator_app(chunks, "text/event-stream"), streaming="batch")
    _, sse_out = pieces(sse, env("gzip"))
    assert all(sse_out[: len(chunks)])
    plain = Compress(generator_app(chunks, "text/plain"), streaming="batch")
    headers, plain_out = pieces(plain, env("gzip"))
    assert dict(headers)["Content-Encoding"] == "gzip"
    assert not all(plain_out[: len(chunks)])  # the codec holds small chunks until the end
    assert decode("gzip", b"".join(plain_out)) == b"".join(chunks)


def test_streaming_off_sends_streams_as_they_are_but_compresses_lists() -> None:
    chunks = [PAGE[:700], PAGE[700:]]
    headers, out = pieces(Compress(generator_app(chunks), streaming="off"), env("gzip"))
    assert "Content-Encoding" not in dict(headers)
    assert dict(headers)["Vary"] == "Accept-Encoding"
    assert out == chunks
    listed = drive(Compress(static([PAGE], HTML), streaming="off"), environ=env("gzip"))
    assert header(listed, "Content-Encoding") == "gzip"


def test_empty_chunks_pass_without_flush_markers() -> None:
    _, out = pieces(Compress(generator_app([b"", PAGE, b""])), env("gzip"))
    assert out[0] == b""
    assert out[2] == b""
    assert zlib.decompress(b"".join(out), 31) == PAGE


bodies = st.lists(st.binary(max_size=3000) | st.text(max_size=2000).map(str.encode), max_size=6)


@settings(max_examples=150, deadline=None)
@given(chunks=bodies, coding=st.sampled_from(ALL), form=st.sampled_from(["list", "generator"]))
def test_round_trip(chunks: list[bytes], coding: str, form: str) -> None:
    app, record = make_app(form, chunks, headers=[("Content-Type", "text/plain")])
    result = drive(Compress(app, encodings=ALL, min_size=0), environ=env(coding))
    assert decode(header(result, "Content-Encoding"), result.body) == b"".join(chunks)
    assert closes(record) == 1


# --- HEAD ------------------------------------------------------------------------------------


def test_head_with_body_gets_the_get_headers_and_no_body() -> None:
    app = Compress(static([PAGE], [*HTML, ("ETag", '"v1"')]))
    get = drive(app, environ=env("br"))
    head = drive(app, environ=env("br", method="HEAD"))
    assert head.body == b""
    for name in ("Content-Encoding", "Content-Length", "Vary", "ETag"):
        assert header(head, name) == header(get, name), name
    assert header(head, "Content-Length") == str(len(get.body))


@pytest.mark.parametrize("body", [[], [b""]], ids=["empty-list", "empty-chunk"])
def test_head_without_body_drops_the_identity_length(body: list[bytes]) -> None:
    headers = [*HTML, ("Content-Length", str(len(PAGE)))]
    result = drive(Compress(static(body, headers)), environ=env("gzip", method="HEAD"))
    assert header(result, "Content-Encoding") == "gzip"
    assert header(result, "Content-Length") is None
    assert result.body == b""


def test_head_of_unknown_length_claims_nothing() -> None:
    result = drive(Compress(static([], HTML)), environ=env("gzip", method="HEAD"))
    assert header(result, "Content-Encoding") is None
    assert header(result, "Vary") == "Accept-Encoding"


# --- close() ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["list", "generator", "write", "file_wrapper"])
@pytest.mark.parametrize("accept", ["gzip", None])
def test_close_once_for_every_form(form: str, accept: str | None) -> None:
    app, record = make_app(form, [PAGE, PAGE], headers=HTML)
    result = drive(Compress(app), environ=env(accept))
    assert decode(header(result, "Content-Encoding"), result.body) == PAGE + PAGE
    assert closes(record) == 1


def test_close_once_when_client_disconnects() -> None:
    app, record = make_app("generator", [PAGE] * 5, headers=HTML)
    result = drive(Compress(app), environ=env("gzip"), stop_after=2)
    assert len(result.body) > 0
    assert closes(record) == 1


def test_close_once_when_the_app_raises_mid_stream() -> None:
    body = Body([PAGE, PAGE], raise_at=1)
    app = static(body, HTML)
    with pytest.raises(ValueError, match="boom while iterating"):
        drive(Compress(app), environ=env("gzip"))
    assert body.closed == 1


def test_close_once_when_the_codec_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, data: bytes) -> bytes:
        raise zlib.error("codec failure")

    monkeypatch.setattr(_codecs._Zlib, "sync", broken)
    body = Body([PAGE, PAGE])
    with pytest.raises(zlib.error, match="codec failure"):
        drive(Compress(static(body, HTML)), environ=env("gzip"))
    assert body.closed == 1


def test_restart_with_exc_info_compresses_the_error_page() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "image/png")])
        try:
            raise RuntimeError("failed before the body")
        except RuntimeError:
            import sys

            start_response("500 Internal Server Error", HTML, sys.exc_info())
        yield PAGE

    result = drive(Compress(app), environ=env("gzip"))
    assert result.status.startswith("500")
    assert header(result, "Content-Encoding") == "gzip"
    assert decode("gzip", result.body) == PAGE


# --- BREACH padding --------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "br"])
@pytest.mark.parametrize("form", ["list", "generator"])
def test_breach_padding_changes_length_not_content(
    coding: str, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = []
    for pad in (0, 1, 256):
        monkeypatch.setattr("secrets.randbelow", lambda n, pad=pad: pad)
        app, record = make_app(form, [PAGE[:900], PAGE[900:]], headers=HTML)
        result = drive(Compress(app, breach_padding=True), environ=env(coding))
        assert header(result, "Content-Encoding") == coding
        assert decode(coding, result.body) == PAGE
        assert closes(record) == 1
        sizes.append(len(result.body))
    assert sizes[2] - sizes[1] == 255
    assert sizes[1] > sizes[0]


def test_breach_padding_is_random_per_response() -> None:
    app = Compress(static([PAGE], HTML), breach_padding=True)
    lengths = {header(drive(app, environ=env("gzip")), "Content-Length") for _ in range(20)}
    assert len(lengths) > 1


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        pytest.param({"encodings": ("gzip", "deflate")}, ValueError, "encodings", id="unknown"),
        pytest.param({"encodings": ()}, ValueError, "encodings", id="empty"),
        pytest.param({"encodings": ("gzip", "GZIP")}, ValueError, "encodings", id="duplicate"),
        pytest.param({"encodings": "gzip"}, TypeError, "encodings", id="string"),
        pytest.param({"min_size": -1}, ValueError, "min_size", id="negative-size"),
        pytest.param({"min_size": "500"}, TypeError, "min_size", id="string-size"),
        pytest.param({"gzip_level": 0}, ValueError, "gzip_level", id="gzip-0"),
        pytest.param({"gzip_level": True}, TypeError, "gzip_level", id="gzip-bool"),
        pytest.param({"brotli_quality": 12}, ValueError, "brotli_quality", id="br-12"),
        pytest.param({"zstd_level": 22}, ValueError, "zstd_level", id="zstd-22"),
        pytest.param({"mimetypes": "text/html"}, TypeError, "mimetypes", id="mimetypes-str"),
        pytest.param({"mimetypes": ["html"]}, ValueError, "mimetypes", id="no-slash"),
        pytest.param({"mimetypes": ["*/*"]}, ValueError, "mimetypes", id="star-major"),
        pytest.param({"mimetypes": ["text/h*"]}, ValueError, "mimetypes", id="partial-star"),
        pytest.param({"streaming": "yes"}, ValueError, "streaming", id="streaming"),
        pytest.param({"breach_padding": 1}, TypeError, "breach_padding", id="padding-int"),
        pytest.param(
            {"breach_padding": True, "encodings": ("zstd", "gzip")},
            ValueError,
            "breach_padding",
            id="padding-zstd",
        ),
    ],
)
def test_bad_options(options: dict[str, Any], error: type[Exception], names: str) -> None:
    with pytest.raises(error, match=names):
        Compress(static([], []), **options)


def test_zstd_without_a_codec_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_codecs, "zstd_module", lambda: None)
    with pytest.raises(ValueError, match=r"zstd.*wsgi-middlewares\[zstd\]"):
        Compress(static([], []), encodings=("zstd", "gzip"))
    assert Compress(static([], []), encodings=("br", "gzip"))  # zstd not asked for: fine


@pytest.mark.parametrize("name", ["compression.zstd", "backports.zstd", "zstandard"])
def test_each_zstd_binding_round_trips(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    try:
        module = importlib.import_module(name)
    except ImportError:
        pytest.skip(f"{name} is not importable here")
    kind = "zstandard" if name == "zstandard" else "stdlib"
    monkeypatch.setattr(_codecs, "zstd_module", lambda: (kind, module))
    for app in (static([PAGE], HTML), generator_app([PAGE[:800], PAGE[800:]])):
        result = drive(Compress(app, encodings=("zstd",)), environ=env("zstd"))
        assert header(result, "Content-Encoding") == "zstd"
        assert decode("zstd", result.body) == PAGE


@pytest.mark.parametrize(
    "empty",
    [lambda: iter(()), lambda: (chunk for chunk in []), lambda: Body([])],
    ids=["iterator", "generator-expression", "iterable-with-close"],
)
def test_an_empty_stream_started_before_the_app_returned_is_left_alone(empty: Any) -> None:
    # The usual form: start_response, then return an iterable that turns out to be empty.
    # The response waits for its first chunk, so the empty body is known and sent as it is.
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", list(HTML))
        return empty()  # type: ignore[no-any-return]

    result = drive(Compress(app), environ=env("gzip"))
    assert result.body == b""
    assert header(result, "Content-Encoding") is None
    assert header(result, "Vary") == "Accept-Encoding"


def test_a_stream_that_is_closed_before_its_first_chunk_still_starts() -> None:
    # The client went away before the first chunk: the server closes without iterating.  The
    # response had started, so the layers outside (an access log) still learn its status.
    app, record = make_app("list", [PAGE], headers=HTML)  # an iterable with close(), not a list
    result = drive(Compress(app), environ=env("gzip"), stop_after=0)
    assert (result.status, result.body) == ("200 OK", b"")
    assert closes(record) == 1
