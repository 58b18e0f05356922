"""Dispatcher: segment matching, SCRIPT_NAME/PATH_INFO, hosts, the 404, redirect_slash, config."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask, url_for
from hypothesis import given, settings
from hypothesis import strategies as st
from webtest import TestApp

from middlewares.dispatch import Dispatcher, Route
from tests.wsgi_helpers import closes, drive, make_app


def echo(label: str) -> Callable[..., Iterable[bytes]]:
    """An app answering ``label|SCRIPT_NAME|PATH_INFO`` (the environ's latin-1 text)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = f"{label}|{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode("latin-1")
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    app.__name__ = app.__qualname__ = f"echo_{label}"
    return app


ROOT, API, V1, ADMIN, DEEP, CAFE = (echo(x) for x in ("root", "api", "v1", "admin", "deep", "cafe"))
MOUNTS = {"/api": API, "/api/v1": V1, "/admin/": ADMIN, "/a/b/c": DEEP, "/café": CAFE}


def call(app: Any, path: str, *, script: str = "", **environ: Any) -> tuple[str, str, str]:
    env = {"SCRIPT_NAME": script, "PATH_INFO": path, **environ}
    # wsgiref.validate rejects a PATH_INFO without its leading "/"; a server may still send one.
    result = drive(app, environ=env, validate=path[:1] in ("", "/"))
    assert result.status == "200 OK", result.status
    label, script_name, path_info = result.body.decode("latin-1").split("|")
    return label, script_name, path_info


# --- paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/api", ("api", "/api", ""), id="exact"),
        pytest.param("/api/", ("api", "/api", "/"), id="trailing-slash"),
        pytest.param("/api/users/7", ("api", "/api", "/users/7"), id="below"),
        pytest.param("/apix", ("root", "", "/apix"), id="not-a-segment-prefix"),
        pytest.param("/api/v1", ("v1", "/api/v1", ""), id="longest-exact"),
        pytest.param("/api/v1/users", ("v1", "/api/v1", "/users"), id="longest-first"),
        pytest.param("/api/v10", ("api", "/api", "/v10"), id="longer-segment-falls-back"),
        pytest.param("/admin/x", ("admin", "/admin", "/x"), id="mount-written-with-slash"),
        pytest.param("/a/b", ("root", "", "/a/b"), id="shallower-than-mount"),
        pytest.param("/a/b/c/d/e", ("deep", "/a/b/c", "/d/e"), id="depth-3"),
        pytest.param("/", ("root", "", "/"), id="root"),
        pytest.param("", ("root", "", ""), id="empty"),
        pytest.param("api", ("root", "", "api"), id="relative-path"),
        pytest.param("/API", ("root", "", "/API"), id="case-sensitive"),
        pytest.param("//api", ("root", "", "//api"), id="double-slash-first"),
        pytest.param("/api//x", ("api", "/api", "//x"), id="double-slash-after"),
        # A server decodes %2F to "/" (PEP 3333), so the app and the router both see /api/v1;
        # if one ever passed it through undecoded it stays part of one segment.
        pytest.param("/api%2Fv1", ("root", "", "/api%2Fv1"), id="undecoded-%2F"),
        pytest.param("/api/../admin", ("api", "/api", "/../admin"), id="dotdot-not-resolved"),
        pytest.param("/./api", ("root", "", "/./api"), id="dot-segment"),
        pytest.param("/caf\xc3\xa9/menu", ("cafe", "/caf\xc3\xa9", "/menu"), id="utf8-as-latin1"),
    ],
)
def test_path_routing(path: str, expected: tuple[str, str, str]) -> None:
    assert call(Dispatcher(ROOT, mounts=MOUNTS), path) == expected


def test_script_name_is_appended_to_never_replaced() -> None:
    assert call(Dispatcher(ROOT, mounts=MOUNTS), "/api/x", script="/outer") == (
        "api",
        "/outer/api",
        "/x",
    )


def test_nested_dispatchers_keep_script_name() -> None:
    inner = Dispatcher(ROOT, mounts={"/inner": API})
    outer = Dispatcher(ADMIN, mounts={"/outer": inner})
    assert call(outer, "/outer/inner/x") == ("api", "/outer/inner", "/x")
    assert call(outer, "/outer/other") == ("root", "/outer", "/other")
    assert call(outer, "/else") == ("admin", "", "/else")


def test_nested_dispatchers_flask_url_for_includes_every_prefix() -> None:
    flask_app = Flask("nested")

    @flask_app.route("/page")
    def page() -> str:
        return url_for("page") + " " + url_for("page", _external=True)

    app = TestApp(Dispatcher(mounts={"/outer": Dispatcher(mounts={"/inner": flask_app})}))
    response = app.get("/outer/inner/page", extra_environ={"HTTP_HOST": "example.test"})
    assert response.text == "/outer/inner/page http://example.test/outer/inner/page"


def test_many_mounts_find_the_right_one() -> None:
    mounts = {f"/m{i}/x/y": echo(str(i)) for i in range(1000)}
    app = Dispatcher(mounts=mounts)
    assert call(app, "/m777/x/y/z") == ("777", "/m777/x/y", "/z")
    assert drive(app, environ={"PATH_INFO": "/m777/x"}).status.startswith("404")


@settings(max_examples=200, deadline=None)
@given(
    path=st.one_of(st.just(""), st.text(alphabet="/.a%b\xe9", max_size=24).map("/".__add__)),
    script=st.sampled_from(["", "/s"]),
    host=st.text(max_size=20).filter(lambda h: h.isprintable()),
)
def test_any_path_or_host_is_routed_and_keeps_the_whole_path(
    path: str, script: str, host: str
) -> None:
    app = Dispatcher(
        ROOT,
        mounts=MOUNTS,
        hosts={"*.example.test": {"/a": API}, "[::1]": ADMIN},
        redirect_slash=True,
    )
    result = drive(app, environ={"SCRIPT_NAME": script, "PATH_INFO": path, "HTTP_HOST": host})
    assert result.status[:3] in ("200", "308", "404")
    if result.status.startswith("200"):
        _, script_name, path_info = result.body.decode("latin-1").split("|")
        assert script_name + path_info == script + path
        assert script_name.startswith(script)


# --- hosts -----------------------------------------------------------------------------------

HOSTS: dict[str, Any] = {
    "API.example.test": API,
    "*.example.test": {"/": V1, "/admin": ADMIN},
    "*.deep.example.test": DEEP,
    "[::1]": CAFE,
    "own.test": {"/admin": ADMIN},
}


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        pytest.param("api.example.test", "/x", ("api", "", "/x"), id="exact"),
        pytest.param("API.EXAMPLE.TEST:8080", "/x", ("api", "", "/x"), id="case-and-port"),
        pytest.param("api.example.test.", "/x", ("api", "", "/x"), id="trailing-dot"),
        pytest.param("www.example.test", "/x", ("v1", "", "/x"), id="wildcard-default"),
        pytest.param("www.example.test", "/admin/y", ("admin", "/admin", "/y"), id="wc-mounts"),
        pytest.param("a.b.example.test", "/x", ("v1", "", "/x"), id="wildcard-any-depth"),
        pytest.param("x.deep.example.test", "/x", ("deep", "", "/x"), id="most-specific"),
        pytest.param("example.test", "/api", ("api", "/api", ""), id="wildcard-not-apex"),
        pytest.param("[::1]:8000", "/x", ("cafe", "", "/x"), id="ipv6-port"),
        pytest.param("other.test", "/api", ("api", "/api", ""), id="unknown-host-uses-mounts"),
        pytest.param("", "/api", ("api", "/api", ""), id="empty-host"),
        pytest.param("[::1", "/x", ("root", "", "/x"), id="broken-ipv6"),
    ],
)
def test_host_routing(host: str, path: str, expected: tuple[str, str, str]) -> None:
    app = Dispatcher(ROOT, mounts=MOUNTS, hosts=HOSTS)
    assert call(app, path, HTTP_HOST=host) == expected


def test_host_falls_back_to_server_name() -> None:
    app = Dispatcher(ROOT, hosts={"api.example.test": API})
    env = {"PATH_INFO": "/", "SERVER_NAME": "api.example.test", "HTTP_HOST": ""}
    result = drive(app, environ=env)
    assert result.body.startswith(b"api|")


def test_host_with_own_mounts_does_not_fall_back_to_app() -> None:
    app = Dispatcher(ROOT, hosts={"own.test": {"/admin": ADMIN}})
    assert call(app, "/admin/z", HTTP_HOST="own.test") == ("admin", "/admin", "/z")
    result = drive(app, environ={"PATH_INFO": "/x", "HTTP_HOST": "own.test"})
    assert result.status == "404 Not Found"


# --- the 404 and redirect_slash ----------------------------------------------------------------


def test_not_found_reveals_nothing_about_mounts() -> None:
    app = TestApp(Dispatcher(mounts={"/secret-admin": ADMIN}, hosts={"hidden.test": API}))
    response = app.get("/nothing", status=404)
    assert response.body == b"Not Found\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "secret" not in response.text
    assert app.head("/nothing", status=404).body == b""


@pytest.mark.parametrize(
    ("script", "path", "query", "location"),
    [
        pytest.param("", "/api", "", "/api/", id="plain"),
        pytest.param("", "/api/v1", "a=1&b=%20", "/api/v1/?a=1&b=%20", id="query-kept"),
        pytest.param("/outer", "/api", "", "/outer/api/", id="script-name"),
        pytest.param("", "/caf\xc3\xa9", "", "/caf%C3%A9/", id="encoded"),
        pytest.param("//evil.test", "/api", "", "/evil.test/api/", id="never-protocol-relative"),
        pytest.param("", "/api", "x=\xe9 y", "/api/?x=%E9%20y", id="query-escaped"),
    ],
)
def test_redirect_slash(script: str, path: str, query: str, location: str) -> None:
    app = Dispatcher(ROOT, mounts=MOUNTS, redirect_slash=True)
    env = {"SCRIPT_NAME": script, "PATH_INFO": path, "QUERY_STRING": query}
    result = drive(app, environ=env)
    assert result.status == "308 Permanent Redirect"
    assert dict(result.headers)["Location"] == location


def test_redirect_slash_keeps_method_and_only_exact_mounts() -> None:
    app = TestApp(Dispatcher(ROOT, mounts=MOUNTS, redirect_slash=True))
    assert app.post("/api", status=308).headers["Location"] == "/api/"
    assert app.get("/api/").text == "api|/api|/"
    assert app.get("/").text == "root||/"


def test_without_redirect_slash_the_exact_mount_gets_empty_path_info() -> None:
    assert TestApp(Dispatcher(mounts=MOUNTS)).get("/api").text == "api|/api|"


# --- pass-through ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["list", "generator", "write", "file_wrapper"])
@pytest.mark.parametrize("path", ["/api/x", "/other"])
def test_body_is_passed_through_untouched_and_closed_once(form: str, path: str) -> None:
    inner, record = make_app(form, [b"one ", b"two"])
    result = drive(Dispatcher(inner, mounts={"/api": inner}), environ={"PATH_INFO": path})
    assert result.body == b"one two"
    assert closes(record) == 1


def test_the_server_gets_the_apps_own_body_object() -> None:
    inner, record = make_app("file_wrapper", [b"data"])
    result = drive(Dispatcher(mounts={"/f": inner}), environ={"PATH_INFO": "/f"}, validate=False)
    assert result.server_body is record["body"]


def test_body_raising_still_closes_once() -> None:
    inner, record = make_app("generator", [b"a", b"b"])

    def failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = inner(environ, start_response)
        body.raise_at = 1
        return body

    with pytest.raises(ValueError, match="boom"):
        drive(Dispatcher(mounts={"/f": failing}), environ={"PATH_INFO": "/f"})
    assert record["body"].closed == 1


# --- configuration ---------------------------------------------------------------------------

not_an_app = 42


class Holder:
    app = staticmethod(echo("held"))


def test_string_values_are_imported_at_construction() -> None:
    app = Dispatcher(
        mounts={"/h": "tests.test_dispatch:Holder.app"},
        hosts={"h.test": "tests.test_dispatch:Holder.app"},
    )
    assert call(app, "/h/x") == ("held", "/h", "/x")
    assert call(app, "/y", HTTP_HOST="h.test") == ("held", "", "/y")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"mounts": {"api": API}}, ValueError, "absolute path", id="relative"),
        pytest.param({"mounts": {1: API}}, TypeError, "path string", id="key-type"),
        pytest.param({"mounts": {"/a//b": API}}, ValueError, "segments", id="empty-segment"),
        pytest.param({"mounts": {"/a/../b": API}}, ValueError, "segments", id="dotdot"),
        pytest.param({"mounts": {"/a?x": API}}, ValueError, "'\\?'", id="query"),
        pytest.param({"mounts": {"/\ud800": API}}, ValueError, "not valid text", id="surrogate"),
        pytest.param({"mounts": {"/a": API, "/a/": V1}}, ValueError, "same mount", id="dup"),
        pytest.param({"mounts": {"/a": 42}}, TypeError, "not callable", id="not-callable"),
        pytest.param({"mounts": {"/a": "nocolon"}}, ValueError, "module:attribute", id="str"),
        pytest.param({"mounts": {"/a": "no_such_mod_x:app"}}, ValueError, "import", id="import"),
        pytest.param(
            {"mounts": {"/a": "tests.test_dispatch:missing"}}, ValueError, "has no", id="attr"
        ),
        pytest.param(
            {"mounts": {"/a": "tests.test_dispatch:not_an_app"}},
            TypeError,
            "not callable",
            id="str-not-callable",
        ),
        pytest.param({"mounts": [("/a", API)]}, TypeError, "mapping", id="mounts-type"),
        pytest.param({"app": ROOT, "mounts": {"/": API}}, ValueError, "both", id="two-defaults"),
        pytest.param({"app": 3}, TypeError, "app must be", id="app-type"),
        pytest.param({"redirect_slash": "yes"}, TypeError, "redirect_slash", id="flag"),
        pytest.param({"hosts": ["a"]}, TypeError, "hosts must be", id="hosts-type"),
        pytest.param({"hosts": {"a.test:80": API}}, ValueError, "ports", id="host-port"),
        pytest.param({"hosts": {"*": API}}, ValueError, "host name", id="host-star"),
        pytest.param({"hosts": {"a.*.test": API}}, ValueError, "host name", id="inner-star"),
        pytest.param({"hosts": {"": API}}, ValueError, "host name", id="host-empty"),
        pytest.param({"hosts": {3: API}}, TypeError, "host name string", id="host-type"),
        pytest.param({"hosts": {"A.test": API, "a.test.": V1}}, ValueError, "repeats", id="dup"),
        pytest.param(
            {"hosts": {"a.test": {"x": API}}}, ValueError, r"hosts\['a.test'\]\['x'\]", id="inner"
        ),
    ],
)
def test_bad_configuration_fails_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    app = kwargs.pop("app", None)
    with pytest.raises(error, match=message):
        Dispatcher(app, **kwargs)


def test_unicode_host_keys_match_their_idna_form() -> None:
    app = Dispatcher(ROOT, hosts={"bücher.test": API})
    assert call(app, "/", HTTP_HOST="xn--bcher-kva.test") == ("api", "", "/")


def test_root_mount_is_the_default_app() -> None:
    assert call(Dispatcher(mounts={"/": ROOT, "/api": API}), "/x") == ("root", "", "/x")


# --- introspection ---------------------------------------------------------------------------


def test_routes_in_matching_order_nested_after_their_mount() -> None:
    inner = Dispatcher(mounts={"/b": API})
    app = Dispatcher(
        ROOT,
        mounts={"/x": V1, "/x/y": DEEP, "/n": inner},
        hosts={"*.w.test": ADMIN, "h.test": {"/p": CAFE}, "*.a.w.test": API},
    )
    assert app.routes() == [
        Route("h.test", "/p", CAFE),
        Route("h.test", "/", None),
        Route("*.a.w.test", "/", API),
        Route("*.w.test", "/", ADMIN),
        Route(None, "/x/y", DEEP),
        Route(None, "/n", inner),
        Route(None, "/n/b", API),
        Route(None, "/n", None),
        Route(None, "/x", V1),
        Route(None, "/", ROOT),
    ]


def test_repr_names_the_app_mounts_and_hosts() -> None:
    app = Dispatcher(ROOT, mounts={"/api": API}, hosts={"h.test": API}, redirect_slash=True)
    assert (
        repr(app)
        == "<Dispatcher app=echo_root mounts=['/api'] hosts=['h.test'] redirect_slash=True>"
    )
    big = Dispatcher(mounts={f"/m{i}": API for i in range(1000)})
    assert repr(big).startswith("<Dispatcher app=None mounts=['/m0', '/m1', ")
    assert repr(big).endswith(", ... 1000 in all]>")
