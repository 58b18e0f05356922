"""CORS: origins, credentials, preflights, Vary, per-path rules, closing, and fuzzing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from webtest import TestApp

from middlewares._wsgi import get_header
from middlewares.cors import _PROBES, CORS, _normalise
from tests.wsgi_helpers import Body, closes, drive, exc_info_now, make_app

FORMS = ["list", "generator", "write", "file_wrapper"]
A = "https://a.example"
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


class Counting:
    """An app that counts its calls and answers 200 with the given headers."""

    def __init__(self, headers: list[tuple[str, str]] | None = None, status: str = "200 OK"):
        self.calls = 0
        self.headers = headers if headers is not None else [("Content-Type", "text/plain")]
        self.status = status

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls += 1
        start_response(self.status, list(self.headers))
        return [b"app"]


def request(cors: CORS, origin: str | None = None, method: str = "GET", **env: str) -> Any:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, **env}
    if origin is not None:
        environ["HTTP_ORIGIN"] = origin
    return drive(cors, environ=environ)


def preflight(
    cors: CORS, origin: str = A, method: str = "PUT", headers: str | None = None, **env: str
) -> Any:
    extra = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": method, **env}
    if headers is not None:
        extra["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"] = headers
    return request(cors, origin, "OPTIONS", **extra)


def h(result: Any, name: str) -> str | None:
    return get_header(result.headers, name)


# --- which origins are allowed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "origin", "expected"),
    [
        pytest.param([A], A, A, id="exact"),
        pytest.param(["HTTPS://A.Example"], A, A, id="config-case-normalised"),
        pytest.param([A], "HTTPS://A.EXAMPLE", "HTTPS://A.EXAMPLE", id="request-case-normalised"),
        pytest.param([A + ":443"], A, A, id="config-default-port-dropped"),
        pytest.param([A], A + ":443", A + ":443", id="request-default-port-dropped"),
        pytest.param(["http://a.example:80"], "http://a.example", "http://a.example", id="http-80"),
        pytest.param([A + ":8443"], A + ":8443", A + ":8443", id="other-port"),
        pytest.param([A + ":8443"], A, None, id="port-differs"),
        pytest.param([A], A + ":8443", None, id="port-added"),
        pytest.param([A], "http://a.example", None, id="scheme-differs"),
        pytest.param([A], "https://b.a.example", None, id="subdomain"),
        pytest.param([A], "https://a.example.evil.net", None, id="suffix"),
        pytest.param([A], "https://evila.example", None, id="prefix"),
        pytest.param([A], A + "/", None, id="request-with-path"),
        pytest.param([A], A + ":99999", None, id="port-out-of-range"),
        pytest.param([A], "a.example", None, id="no-scheme"),
        pytest.param([A], "", None, id="empty"),
        pytest.param([A], "null", None, id="null-not-listed"),
        pytest.param([A, "null"], "null", "null", id="null-listed"),
        pytest.param(["*"], "null", None, id="star-excludes-null"),
        pytest.param(["*"], "https://anything.example", "*", id="star"),
        pytest.param(["*"], "javascript:alert(1)", None, id="star-malformed"),
        pytest.param(["http://[::1]:8080"], "http://[::1]:8080", "http://[::1]:8080", id="ipv6"),
        pytest.param(["http://127.0.0.1:5000"], "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_allowed_origins(listed: list[str], origin: str, expected: str | None) -> None:
    result = request(CORS(Counting(), allow_origins=listed), origin)
    assert result.status == "200 OK"
    assert h(result, "Access-Control-Allow-Origin") == expected
    assert h(result, "Vary") == "Origin"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        pytest.param("https://api.example.com", True, id="match"),
        pytest.param("https://API.Example.COM", True, id="case-normalised"),
        pytest.param("https://api.example.com:443", True, id="default-port"),
        pytest.param("https://api.example.com.evil.net", False, id="suffix-bypass"),
        pytest.param("https://api.example.comx", False, id="trailing"),
        pytest.param("https://evil.net/https://api.example.com", False, id="path-bypass"),
        pytest.param("http://api.example.com", False, id="scheme"),
        pytest.param("null", False, id="null"),
    ],
)
def test_origin_regex_is_fullmatched(origin: str, allowed: bool) -> None:
    cors = CORS(Counting(), allow_origin_regex=r"https://[a-z0-9-]+\.example\.com")
    result = request(cors, origin)
    assert h(result, "Access-Control-Allow-Origin") == (origin if allowed else None)
    compiled = CORS(Counting(), allow_origin_regex=re.compile(r"https://[a-z0-9-]+\.example\.com"))
    assert h(request(compiled, origin), "Access-Control-Allow-Origin") == (
        origin if allowed else None
    )


def test_listed_origins_and_regex_combine() -> None:
    cors = CORS(Counting(), allow_origins=[A], allow_origin_regex=r"https://b\.example")
    assert h(request(cors, A), "Access-Control-Allow-Origin") == A
    assert (
        h(request(cors, "https://b.example"), "Access-Control-Allow-Origin") == "https://b.example"
    )
    assert h(request(cors, "https://c.example"), "Access-Control-Allow-Origin") is None


# --- configuration errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param(
            {"allow_origins": ["*"], "allow_credentials": True}, ValueError, "list the origins"
        ),
        pytest.param(
            {"allow_origin_regex": ".*", "allow_credentials": True}, ValueError, "admits any"
        ),
        pytest.param(
            {"allow_origin_regex": r"https://.*", "allow_credentials": True},
            ValueError,
            "admits any",
            id="https-dot-star",
        ),
        pytest.param(
            {"allow_origin_regex": r"https?://[^/]+", "allow_credentials": True},
            ValueError,
            "admits any",
            id="any-host",
        ),
        pytest.param({"allow_origins": [A + "/"]}, ValueError, "has a path"),
        pytest.param({"allow_origins": [A + "/api"]}, ValueError, "'https://a.example/api'"),
        pytest.param({"allow_origins": [A + "?x=1"]}, ValueError, "a query"),
        pytest.param({"allow_origins": ["https://u@a.example"]}, ValueError, "userinfo"),
        pytest.param(
            {"allow_origins": ["https://u:p@a.example:8443"]},
            ValueError,
            "e.g. 'https://a.example:8443'",
            id="userinfo-suggestion-drops-it",
        ),
        pytest.param(
            {"allow_origins": ["https://u@a.example/api"]},
            ValueError,
            "has a path; an origin is only scheme://host[:port], e.g. 'https://a.example'",
            id="path-suggestion-drops-userinfo",
        ),
        pytest.param({"allow_origins": ["a.example"]}, ValueError, "no scheme"),
        pytest.param({"allow_origins": ["https://"]}, ValueError, "not a valid"),
        pytest.param({"allow_origins": ["https://a b"]}, ValueError, "not a valid"),
        pytest.param({"allow_origins": [A + ":70000"]}, ValueError, "not a valid"),
        pytest.param({"allow_origins": A}, TypeError, "list of origins"),
        pytest.param({"allow_origins": [1]}, TypeError, "not a string"),
        pytest.param({"allow_origin_regex": "("}, ValueError, "does not compile"),
        pytest.param({"allow_origin_regex": 1}, TypeError, "allow_origin_regex"),
        pytest.param({"allow_methods": "GET"}, TypeError, "allow_methods"),
        pytest.param({"allow_methods": ["GET PUT"]}, ValueError, "allow_methods"),
        pytest.param({"allow_headers": ["X-A\r\nX-B"]}, ValueError, "allow_headers"),
        pytest.param({"expose_headers": ["a:b"]}, ValueError, "expose_headers"),
        pytest.param(
            {"allow_origins": [A], "allow_credentials": True, "expose_headers": ["*"]},
            ValueError,
            "list the headers",
            id="expose-star-credentials",
        ),
        pytest.param({"allow_credentials": "yes"}, TypeError, "allow_credentials"),
        pytest.param({"allow_private_network": 1}, TypeError, "allow_private_network"),
        pytest.param({"max_age": -1}, ValueError, "max_age"),
        pytest.param({"max_age": True}, ValueError, "max_age"),
        pytest.param({"paths": [("/a", {})]}, TypeError, "paths"),
        pytest.param({"paths": {"api/*": {}}}, ValueError, "starts with '/'"),
        pytest.param({"paths": {"/a*/b": {}}}, ValueError, "final '/*'"),
        pytest.param({"paths": {"/a/*/b/*": {}}}, ValueError, "final '/*'"),
        pytest.param({"paths": {"/a": {"allow_origin": [A]}}}, TypeError, "unknown option"),
        pytest.param({"paths": {"/a": ["*"]}}, TypeError, "mapping"),
        pytest.param(
            {"allow_credentials": True, "paths": {"/pub/*": {"allow_origins": ["*"]}}},
            ValueError,
            "paths['/pub/*']: allow_credentials",
            id="path-inherits-credentials",
        ),
    ],
)
def test_bad_configuration_fails_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        CORS(Counting(), **options)


@pytest.mark.parametrize(
    "regex",
    [
        pytest.param(r"https://[a-z0-9-]+\.example\.com", id="subdomains"),
        pytest.param(r"https://(www|api)\.example\.com", id="alternatives"),
        pytest.param(r"https://(app|admin)\.example\.org", id="alternatives-org"),
        pytest.param(r"https://([a-z0-9-]+\.)*example\.com", id="apex-and-any-depth"),
        pytest.param(r"https://.*\.example\.com", id="dot-star-under-own-domain"),
        pytest.param(r"https://[a-z0-9.-]+\.example", id="under-reserved-example-tld"),
        pytest.param(r"http://localhost:\d+", id="localhost-any-port"),
        pytest.param(r"http://[a-z0-9-]+\.localhost:\d+", id="localhost-subdomains"),
        pytest.param(r"http://127\.0\.0\.1:\d+", id="loopback-any-port"),
        pytest.param(r"http://192\.168\.\d+\.\d+(:\d+)?", id="private-lan"),
    ],
)
def test_anchored_regexes_are_accepted_with_credentials(regex: str) -> None:
    CORS(Counting(), allow_origin_regex=regex, allow_credentials=True)


# Each admits origins of sites nobody chose, e.g. https://evil.com; with credentials any such site
# could read a user's private data.  One row per shape of catch-all the probes must catch.
CATCH_ALL_REGEXES = [
    pytest.param(r"https://[a-z.]+", id="host-chars-without-hyphen"),
    pytest.param(r"https?://[\w.]+", id="word-chars-either-scheme"),
    pytest.param(r"https://[a-z]+\.[a-z]+", id="two-labels"),
    pytest.param(r"https://\w+\.\w+", id="two-word-labels"),
    pytest.param(r"https://[^.]+\.[^.]+", id="two-labels-negated-class"),
    pytest.param(r"https://.*\.com", id="any-dot-com"),
    pytest.param(r"https://.+\.io", id="any-dot-io"),
    pytest.param(r"https://(www\.)?[a-z]+\.(com|org|net)", id="common-suffixes"),
    pytest.param(r"https://[a-z]+\.co\.uk", id="second-level-suffix"),
    pytest.param(r"https://[a-z]+", id="single-label"),
    pytest.param(r"http://[a-z.]+", id="http-only"),
    pytest.param(r"https://[a-z.]+:\d+", id="port-required"),
    pytest.param(r"http://[a-z0-9-]+\.[a-z]+:8080", id="alternative-port-only"),
    pytest.param(r"https?://\d+\.\d+\.\d+\.\d+", id="any-ipv4-literal"),
    pytest.param(r"https?://\[[0-9a-f:]+\]", id="any-ipv6-literal"),
]


@pytest.mark.parametrize("regex", CATCH_ALL_REGEXES)
def test_catch_all_regex_is_refused_with_credentials(regex: str) -> None:
    with pytest.raises(ValueError, match=r"allow_origin_regex=.* admits any origin"):
        CORS(Counting(), allow_origin_regex=regex, allow_credentials=True)


def test_catch_all_error_names_an_origin_the_regex_admits() -> None:
    with pytest.raises(ValueError, match=re.escape("(it matches 'https://corsprobe.com')")):
        CORS(Counting(), allow_origin_regex=r"https://.*\.com", allow_credentials=True)


def test_catch_all_regex_is_allowed_without_credentials() -> None:
    # A public, cookie-less API may admit every site; only credentials make that unsafe.
    cors = CORS(Counting(), allow_origin_regex=r"https://[a-z.]+")
    result = request(cors, "https://evil.com")
    assert h(result, "Access-Control-Allow-Origin") == "https://evil.com"


def test_probes_are_canonical_origins() -> None:
    # The regex sees the normalised origin; a probe that is not in that form could never match.
    assert all(_normalise(probe) == probe for probe in _PROBES)


# --- actual requests --------------------------------------------------------------------------


def test_credentials_echo_the_origin_and_expose_headers() -> None:
    cors = CORS(
        Counting(), allow_origins=[A], allow_credentials=True, expose_headers=["X-Id", "X-Page"]
    )
    result = request(cors, A, "POST")
    assert h(result, "Access-Control-Allow-Origin") == A
    assert h(result, "Access-Control-Allow-Credentials") == "true"
    assert h(result, "Access-Control-Expose-Headers") == "X-Id, X-Page"
    assert result.body == b"app"


def test_refused_origin_gets_no_cors_headers_but_vary() -> None:
    cors = CORS(Counting(), allow_origins=[A], allow_credentials=True, expose_headers=["X-Id"])
    result = request(cors, "https://evil.example")
    assert [name for name, _ in result.headers] == ["Content-Type", "Vary"]
    assert h(result, "Vary") == "Origin"


def test_origin_less_request_gets_vary() -> None:
    app = Counting()
    result = request(CORS(app, allow_origins=[A]))
    assert h(result, "Access-Control-Allow-Origin") is None
    assert h(result, "Vary") == "Origin"
    assert app.calls == 1


@pytest.mark.parametrize(
    ("app_vary", "expected"),
    [
        pytest.param([], [("Vary", "Origin")], id="none"),
        pytest.param(
            [("Vary", "Accept-Encoding")], [("Vary", "Accept-Encoding, Origin")], id="append"
        ),
        pytest.param([("vary", "origin")], [("vary", "origin")], id="already-there"),
        pytest.param(
            [("Vary", "Cookie"), ("Vary", "Accept")],
            [("Vary", "Cookie, Accept, Origin")],
            id="split",
        ),
        pytest.param([("Vary", "*")], [("Vary", "*")], id="star"),
        pytest.param([("Vary", "Cookie, origin")], [("Vary", "Cookie, origin")], id="list-has-it"),
        pytest.param([("Vary", " Cookie")], [("Vary", "Cookie, Origin")], id="padded"),
    ],
)
@pytest.mark.parametrize("origin", [A, "https://evil.example", None])
def test_vary_is_merged(
    app_vary: list[tuple[str, str]], expected: list[tuple[str, str]], origin: str | None
) -> None:
    cors = CORS(Counting([("Content-Type", "text/plain"), *app_vary]), allow_origins=[A])
    result = request(cors, origin)
    assert [item for item in result.headers if item[0].lower() == "vary"] == expected


@pytest.mark.parametrize("status", ["404 Not Found", "500 Internal Server Error", "401 No"])
def test_error_responses_get_cors_and_vary(status: str) -> None:
    result = request(CORS(Counting(status=status), allow_origins=[A]), A)
    assert result.status == status
    assert h(result, "Access-Control-Allow-Origin") == A
    assert h(result, "Vary") == "Origin"


def test_error_page_after_start_response_gets_cors() -> None:
    """An app that switches to an error page with exc_info (PEP 3333) still gets the headers."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain")],
            exc_info_now(RuntimeError("late")),
        )
        return [b"error"]

    result = request(CORS(app, allow_origins=[A]), A)
    assert result.status.startswith("500")
    assert h(result, "Access-Control-Allow-Origin") == A
    assert h(result, "Vary") == "Origin"


def test_headers_the_app_set_are_left_alone() -> None:
    own = [
        ("Content-Type", "text/plain"),
        ("Access-Control-Allow-Origin", "https://app-choice.example"),
    ]
    cors = CORS(Counting(own), allow_origins=[A], allow_credentials=True, expose_headers=["X"])
    result = request(cors, A)
    assert [v for k, v in result.headers if k == "Access-Control-Allow-Origin"] == [
        "https://app-choice.example"
    ]
    assert h(result, "Access-Control-Allow-Credentials") is None
    assert h(result, "Access-Control-Expose-Headers") is None
    assert h(result, "Vary") == "Origin"


def test_other_cors_header_set_by_app_is_kept() -> None:
    own = [("Content-Type", "text/plain"), ("Access-Control-Expose-Headers", "X-App")]
    cors = CORS(Counting(own), allow_origins=[A], expose_headers=["X-Mine"])
    result = request(cors, A)
    assert h(result, "Access-Control-Allow-Origin") == A
    assert [v for k, v in result.headers if k.lower() == "access-control-expose-headers"] == [
        "X-App"
    ]


def test_defaults_pass_everything_through_untouched() -> None:
    app, record = make_app("list", [b"x"])
    cors = CORS(app)
    result = drive(cors, environ={"HTTP_ORIGIN": A}, validate=False)
    assert result.server_body is record["body"]
    assert result.headers == [("Content-Type", "text/plain")]
    result = preflight(CORS(app))
    assert result.status == "200 OK"  # the app answered


def test_webtest_lint_round_trip() -> None:
    cors = CORS(Counting(), allow_origins=[A], allow_methods=["GET", "DELETE"])
    client = TestApp(cors, lint=True)
    response = client.get("/", headers={"Origin": A})
    assert response.headers["Access-Control-Allow-Origin"] == A
    response = client.options(
        "/", headers={"Origin": A, "Access-Control-Request-Method": "DELETE"}, status=204
    )
    assert response.headers["Access-Control-Allow-Methods"] == "GET, DELETE"


# --- preflights -------------------------------------------------------------------------------


def test_preflight_is_answered_without_the_app() -> None:
    app = Counting()
    cors = CORS(
        app,
        allow_origins=[A],
        allow_methods=["GET", "PUT"],
        allow_headers=["X-Token"],
        allow_credentials=True,
        max_age=120,
    )
    result = preflight(cors, headers="X-Token, Content-Type")
    assert app.calls == 0
    assert result.status == "204 No Content"
    assert result.body == b""
    assert dict(result.headers) == {
        "Access-Control-Allow-Origin": A,
        "Access-Control-Allow-Methods": "GET, PUT",
        "Access-Control-Allow-Headers": "x-token, content-type",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Max-Age": "120",
        "Vary": PREFLIGHT_VARY,
    }


@pytest.mark.parametrize(
    ("origin", "method"),
    [
        pytest.param("https://evil.example", "PUT", id="origin"),
        pytest.param("null", "PUT", id="null"),
        pytest.param(A, "PATCH", id="method"),
        pytest.param(A, "put", id="method-is-case-sensitive"),
        pytest.param(A, "", id="empty-method"),
        pytest.param(A, "PUT\r\nX-Injected: 1", id="method-not-a-token"),
    ],
)
def test_disallowed_preflight_gets_no_cors_headers(origin: str, method: str) -> None:
    app = Counting()
    cors = CORS(app, allow_origins=[A], allow_methods=["GET", "PUT"], allow_credentials=True)
    result = drive(
        cors,
        environ={
            "REQUEST_METHOD": "OPTIONS",
            "HTTP_ORIGIN": origin,
            "HTTP_ACCESS_CONTROL_REQUEST_METHOD": method,
        },
    )
    assert app.calls == 0
    assert result.status == "403 Forbidden"
    assert not [k for k, _ in result.headers if k.lower().startswith("access-control-")]
    assert h(result, "Vary") == PREFLIGHT_VARY


@pytest.mark.parametrize(
    ("allow_headers", "credentials", "requested", "expected"),
    [
        pytest.param(["X-A"], False, "x-a", "x-a", id="allowed"),
        pytest.param(["X-A"], False, "X-A , x-b", "x-a", id="only-allowed-ones"),
        pytest.param(["X-A"], False, "x-b", None, id="none-allowed"),
        pytest.param([], False, "content-type", "content-type", id="safelisted"),
        pytest.param(["*"], False, "x-a, x-b", "*", id="star"),
        pytest.param(["*"], True, "X-A, x-b", "x-a, x-b", id="star-credentials-echo"),
        pytest.param(["*"], False, "authorization", "authorization", id="star-not-authorization"),
        pytest.param(["*"], True, "x-a, bad header, x@b", "x-a", id="echo-tokens-only"),
        pytest.param(["X-A"], False, " , ,", None, id="empty-members"),
    ],
)
def test_preflight_allow_headers(
    allow_headers: list[str], credentials: bool, requested: str, expected: str | None
) -> None:
    cors = CORS(
        Counting(), allow_origins=[A], allow_headers=allow_headers, allow_credentials=credentials
    )
    result = preflight(cors, method="GET", headers=requested)
    assert result.status == "204 No Content"
    assert h(result, "Access-Control-Allow-Headers") == expected


def test_preflight_star_methods_echo_the_requested_method() -> None:
    cors = CORS(Counting(), allow_origins=[A], allow_methods=["*"])
    assert h(preflight(cors, method="PATCH"), "Access-Control-Allow-Methods") == "PATCH"


def test_preflight_star_origin_without_credentials() -> None:
    result = preflight(CORS(Counting(), allow_origins=["*"]), method="POST")
    assert h(result, "Access-Control-Allow-Origin") == "*"
    assert h(result, "Access-Control-Allow-Credentials") is None


def test_preflight_max_age_none_is_omitted() -> None:
    result = preflight(CORS(Counting(), allow_origins=[A], max_age=None), method="GET")
    assert h(result, "Access-Control-Max-Age") is None


@pytest.mark.parametrize(
    ("enabled", "asked", "expected"),
    [
        pytest.param(True, "true", "true", id="enabled-asked"),
        pytest.param(True, None, None, id="enabled-not-asked"),
        pytest.param(False, "true", None, id="disabled-asked"),
        pytest.param(True, "false", None, id="enabled-asked-false"),
    ],
)
def test_private_network_access(enabled: bool, asked: str | None, expected: str | None) -> None:
    cors = CORS(Counting(), allow_origins=[A], allow_private_network=enabled)
    env = {} if asked is None else {"HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK": asked}
    result = preflight(cors, method="GET", **env)
    assert h(result, "Access-Control-Allow-Private-Network") == expected
    assert ("Access-Control-Request-Private-Network" in (h(result, "Vary") or "")) is enabled


def test_private_network_header_never_on_actual_requests() -> None:
    cors = CORS(Counting(), allow_origins=[A], allow_private_network=True)
    result = request(cors, A, HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK="true")
    assert h(result, "Access-Control-Allow-Private-Network") is None


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"HTTP_ORIGIN": A}, id="no-request-method"),
        pytest.param({"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "PUT"}, id="no-origin"),
        pytest.param({}, id="neither"),
    ],
)
def test_plain_options_goes_to_the_app(env: dict[str, str]) -> None:
    app = Counting()
    result = request(CORS(app, allow_origins=[A]), None, "OPTIONS", **env)
    assert app.calls == 1
    assert result.status == "200 OK"
    assert result.body == b"app"
    assert h(result, "Vary") == "Origin"
    expected = A if "HTTP_ORIGIN" in env else None
    assert h(result, "Access-Control-Allow-Origin") == expected


# --- per-path rules ---------------------------------------------------------------------------

PATHS = {
    "/api/public/*": {"allow_origins": ["*"], "allow_credentials": False},
    "/api/*": {"allow_origins": [A], "allow_credentials": True},
    "/api/public/login": {"allow_origins": [A], "allow_credentials": True},
    "/internal/*": {"allow_origins": []},
}


@pytest.mark.parametrize(
    ("path", "origin", "expected", "credentials"),
    [
        pytest.param("/api/public/data", "https://any.example", "*", None, id="public"),
        pytest.param("/api/public", "https://any.example", "*", None, id="prefix-itself"),
        pytest.param("/api/public/login", "https://any.example", None, None, id="exact-wins"),
        pytest.param("/api/public/login", A, A, "true", id="exact-allowed"),
        pytest.param("/api/private", "https://any.example", None, None, id="private-refused"),
        pytest.param("/api/private", A, A, "true", id="private-allowed"),
        pytest.param("/api/publicity", "https://any.example", None, None, id="segment-boundary"),
        pytest.param("/API/public/data", "https://any.example", None, None, id="case-sensitive"),
        pytest.param("/api/public+data", "https://any.example", None, None, id="plus-literal"),
        pytest.param("/other", "https://b.example", "https://b.example", None, id="top-level"),
        pytest.param("/api/public/../x", "https://any.example", None, None, id="dot-dot"),
        pytest.param("/api/public/./x", A, None, None, id="dot"),
        pytest.param("/api/public/..x", "https://any.example", "*", None, id="dots-in-name"),
    ],
)
def test_per_path_rules(
    path: str, origin: str, expected: str | None, credentials: str | None
) -> None:
    cors = CORS(Counting(), allow_origins=["https://b.example"], paths=PATHS)
    result = request(cors, origin, PATH_INFO=path)
    assert h(result, "Access-Control-Allow-Origin") == expected
    assert h(result, "Access-Control-Allow-Credentials") == credentials
    assert h(result, "Vary") == "Origin"


def test_path_with_no_allowed_origin_passes_through() -> None:
    app = Counting()
    cors = CORS(app, allow_origins=[A], paths=PATHS)
    result = preflight(cors, PATH_INFO="/internal/x")
    assert app.calls == 1
    assert result.status == "200 OK"
    assert h(result, "Vary") is None


def test_dot_segment_preflight_is_refused() -> None:
    app = Counting()
    result = preflight(CORS(app, paths=PATHS), PATH_INFO="/api/public/../private")
    assert app.calls == 0
    assert result.status == "403 Forbidden"


def test_paths_match_after_script_name() -> None:
    cors = CORS(Counting(), paths={"/data/*": {"allow_origins": [A]}})
    mounted = request(cors, A, SCRIPT_NAME="/api", PATH_INFO="/data/1")
    assert h(mounted, "Access-Control-Allow-Origin") == A
    whole = request(cors, A, SCRIPT_NAME="", PATH_INFO="/api/data/1")
    assert h(whole, "Access-Control-Allow-Origin") is None


def test_path_options_inherit_top_level() -> None:
    cors = CORS(
        Counting(),
        allow_origins=[A],
        expose_headers=["X-Id"],
        paths={"/v2/*": {"allow_methods": ["PATCH"]}},
    )
    assert h(preflight(cors, method="PATCH", PATH_INFO="/v2/x"), "Access-Control-Allow-Origin") == A
    assert preflight(cors, method="PATCH", PATH_INFO="/v1/x").status == "403 Forbidden"
    result = request(cors, A, PATH_INFO="/v2/x")
    assert h(result, "Access-Control-Expose-Headers") == "X-Id"


def test_catch_all_pattern() -> None:
    cors = CORS(Counting(), paths={"/*": {"allow_origins": [A]}})
    assert h(request(cors, A, PATH_INFO="/anything"), "Access-Control-Allow-Origin") == A


# --- closing and body forms -------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("origin", [A, "https://evil.example", None])
def test_body_untouched_and_closed_once(form: str, origin: str | None) -> None:
    app, record = make_app(form, [b"alpha ", b"beta"])
    env = {} if origin is None else {"HTTP_ORIGIN": origin}
    result = drive(CORS(app, allow_origins=[A]), environ=env)
    assert result.body == b"alpha beta"
    assert closes(record) == 1
    assert h(result, "Vary") == "Origin"


@pytest.mark.parametrize("form", FORMS)
def test_body_closed_once_when_client_goes_away(form: str) -> None:
    app, record = make_app(form, [b"a", b"b", b"c"])
    drive(CORS(app, allow_origins=[A]), environ={"HTTP_ORIGIN": A}, stop_after=1)
    assert closes(record) == 1


def test_file_wrapper_is_kept_for_sendfile() -> None:
    app, record = make_app("file_wrapper", [b"data"])
    result = drive(CORS(app, allow_origins=[A]), environ={"HTTP_ORIGIN": A}, validate=False)
    assert result.server_body is record["body"]
    assert h(result, "Access-Control-Allow-Origin") == A


def test_body_raising_is_closed_once() -> None:
    body = Body([b"a", b"b"], raise_at=1)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(ValueError, match="boom"):
        drive(CORS(app, allow_origins=[A]), environ={"HTTP_ORIGIN": A})
    assert body.closed == 1


def test_app_raising_propagates() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("app failed")

    with pytest.raises(RuntimeError, match="app failed"):
        drive(CORS(app, allow_origins=[A]), environ={"HTTP_ORIGIN": A})


# --- fuzzing ----------------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=40
) | st.sampled_from([A, A.upper(), A + ":443", "null", "*", "https://x.example\r\nX: 1"])


def _origins() -> st.SearchStrategy[str]:
    host = st.from_regex(r"[a-zA-Z0-9.\-\[\]:_]{0,20}", fullmatch=True)
    structured = st.builds(
        lambda s, h, p: f"{s}://{h}{p}",
        st.sampled_from(["http", "https", "HTTPS", "ws", "", "x-y"]),
        host,
        st.sampled_from(["", ":443", ":0", ":65536", ":8080", "/", "/path", "?q", "\n"]),
    )
    near_misses = st.builds(
        lambda s, h, p: f"{s}://{h}{p}",
        st.sampled_from(["http", "https", "HTTPS"]),
        st.from_regex(
            r"[a-zA-Z0-9-]{1,4}\.(ab\.)?(example\.com|example|EXAMPLE\.com)", fullmatch=True
        ),
        st.sampled_from(["", ":443", ":80", ":8080", "/"]),
    )
    return structured | near_misses | _text


def _environ_value(value: str) -> str:
    # WSGI environ values are latin-1 "native strings" (PEP 3333, "Unicode Issues").
    return value.encode("utf-8", "replace").decode("latin-1")


FUZZ_CORS = [
    CORS(Counting(), allow_origins=[A, "null"], allow_credentials=True, expose_headers=["X"]),
    CORS(Counting(), allow_origins=["*"], allow_headers=["*"], allow_methods=["*"]),
    CORS(
        Counting(),
        allow_origin_regex=r"https://[a-z0-9.-]+\.example",
        allow_headers=["*"],
        allow_credentials=True,
        allow_private_network=True,
        paths={"/p/*": {"allow_origins": ["*"], "allow_credentials": False}},
    ),
]


@settings(max_examples=200, deadline=None)
@given(
    origin=_origins(),
    method=st.sampled_from(["GET", "POST", "OPTIONS", "PUT"]),
    request_method=st.none() | _text,
    request_headers=st.none() | _text,
    path=st.sampled_from(["/", "/p/x", "/p/../q", ""]) | _text.map(lambda t: "/" + t),
    which=st.integers(0, len(FUZZ_CORS) - 1),
)
def test_fuzz_no_exception_no_header_injection(
    origin: str,
    method: str,
    request_method: str | None,
    request_headers: str | None,
    path: str,
    which: int,
) -> None:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "HTTP_ORIGIN": _environ_value(origin),
        "PATH_INFO": _environ_value(path),
    }
    if request_method is not None:
        env["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = _environ_value(request_method)
    if request_headers is not None:
        env["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"] = _environ_value(request_headers)
    env["HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK"] = "true"
    result = drive(FUZZ_CORS[which], environ=env)  # wsgiref.validate rejects control characters
    assert result.status[:3] in ("200", "204", "403")
    for name, value in result.headers:
        assert not re.search(r"[\x00-\x1f\x7f]", value), (name, value)
        assert value.isascii(), (name, value)
    allowed = h(result, "Access-Control-Allow-Origin")
    assert allowed in (None, "*", env["HTTP_ORIGIN"])
    if allowed not in (None, "*"):
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s]+|null", allowed)


FAST_REGEXES = [
    r"https://[a-z0-9-]+\.example\.com",
    r"(https|http)://(a|b)\.example(:\d+)?",
    r"https://(?P<sub>[a-z]+)\.(?P=sub)\.example",  # a backreference keeps its group
    r"https://[a-z]+\.EXAMPLE\.com",
    re.compile(r"https://[a-z0-9]+\.example(\.com)?", re.IGNORECASE),
]


@pytest.mark.parametrize("regex", FAST_REGEXES)
@settings(max_examples=100, deadline=None)
@given(origin=_origins())
@example(origin="https://a.example")
@example(origin="http://b.example:8080")
@example(origin="https://ab.ab.example")
@example(origin="https://ab.ac.example")
@example(origin="https://c1.example.com")
@example(origin="https://c1.EXAMPLE.com")
def test_one_match_fast_path_agrees_with_two_step_path(
    regex: str | re.Pattern[str], origin: str
) -> None:
    fast = CORS(Counting(), allow_origin_regex=regex)._policy
    slow = CORS(Counting(), allow_origin_regex=regex)._policy
    assert fast is not None
    assert slow is not None
    assert fast.fast_regex is not None
    slow.fast_regex = None
    assert fast.allow(origin) == slow.allow(origin)


@pytest.mark.parametrize(
    ("regex", "origin"),
    [
        (r"https://(?P<sub>[a-z]+)\.(?P=sub)\.example", "https://ab.ab.example"),
        (re.compile(r"https://A\.example", re.IGNORECASE), "https://a.example"),
        ("(?i)https://a\\.example", "https://a.example"),  # global flag: two-step path only
        (re.compile(r"https://a\.example  # ours", re.VERBOSE), "https://a.example"),
    ],
)
def test_regex_features_work(regex: str | re.Pattern[str], origin: str) -> None:
    result = request(CORS(Counting(), allow_origin_regex=regex), origin)
    assert h(result, "Access-Control-Allow-Origin") == origin
