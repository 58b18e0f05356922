"""PasteDeploy factories: ini strings coerced once, from the constructor's signature."""

from __future__ import annotations

import gzip
import inspect
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

import pytest
from paste.deploy import loadapp
from webtest import TestApp

from middlewares import paste
from middlewares._options import Invalid, coerce
from middlewares.config import REGISTRY, ConfigError
from tests import config_layers
from tests.config_layers import Tagger, echo
from tests.wsgi_helpers import drive

TAGGER = "tests.config_layers:Tagger"
ROOT = Path(__file__).resolve().parents[1]


# --- coerce(): one function reads every ini string ------------------------------------------


@pytest.mark.parametrize(
    ("text", "annotation", "expected"),
    [
        pytest.param("hello", str, "hello", id="str"),
        pytest.param(" 42 ", int, 42, id="int"),
        pytest.param("-7", int, -7, id="negative-int"),
        pytest.param("0.5", float, 0.5, id="float"),
        pytest.param("3", float, 3.0, id="int-text-as-float"),
        pytest.param("true", bool, True, id="true"),
        pytest.param("Yes", bool, True, id="yes"),
        pytest.param("on", bool, True, id="on"),
        pytest.param("1", bool, True, id="one"),
        pytest.param("FALSE", bool, False, id="false"),
        pytest.param("no", bool, False, id="no"),
        pytest.param("off", bool, False, id="off"),
        pytest.param("0", bool, False, id="zero"),
        pytest.param("a b,c,\n d", list[str], ["a", "b", "c", "d"], id="list-split"),
        pytest.param("", list[str], [], id="empty-list"),
        pytest.param("1, 2 3", Sequence[int], [1, 2, 3], id="sequence-of-int"),
        pytest.param("1 2", tuple[int, ...], (1, 2), id="tuple"),
        pytest.param("1 x", tuple[int, str], (1, "x"), id="fixed-tuple"),
        pytest.param("GET, POST", frozenset[str], frozenset({"GET", "POST"}), id="frozenset"),
        pytest.param(
            "\n/api = a:b\n/x=c:d\n", Mapping[str, str], {"/api": "a:b", "/x": "c:d"}, id="mapping"
        ),
        pytest.param("a = 1\nb = 2", dict[str, int], {"a": 1, "b": 2}, id="dict-of-int"),
        pytest.param("", int | None, None, id="empty-is-none"),
        pytest.param("5", int | None, 5, id="optional-int"),
        pytest.param("5", bool | int, 5, id="union-in-order"),
        pytest.param("abc", int | str, "abc", id="str-arm-last"),
        pytest.param("12", str | int, 12, id="str-arm-tried-last"),
        pytest.param("fast", Literal["fast", "safe"], "fast", id="literal-str"),
        pytest.param("2", Literal[1, 2], 2, id="literal-int"),
        pytest.param("anything", Any, "anything", id="any"),
    ],
)
def test_coerce_reads_ini_strings_as_the_annotation(
    text: str, annotation: Any, expected: Any
) -> None:
    value = coerce(text, annotation)
    assert value == expected
    assert type(value) is type(expected)


def test_coerce_imports_an_app_where_a_callable_is_expected() -> None:
    from wsgiref.types import WSGIApplication

    assert coerce("tests.config_layers:echo", WSGIApplication) is echo
    assert coerce("/a = tests.config_layers:other", Mapping[str, WSGIApplication]) == {
        "/a": config_layers.other
    }


@pytest.mark.parametrize(
    ("text", "annotation", "message"),
    [
        pytest.param("many", int, "expected int, got 'many' (str)", id="int"),
        pytest.param("1.5", int, "expected int, got '1.5'", id="float-for-int"),
        pytest.param("maybe", bool, "expected bool, got 'maybe'", id="bool"),
        pytest.param("x", float, "expected float", id="float"),
        pytest.param(
            "1 x", list[int], "expected list of int; item 2: expected int, got 'x'", id="item"
        ),
        pytest.param("1 2 3", tuple[int, int], "expected 2 items, got 3", id="tuple-length"),
        pytest.param("no equals", dict[str, str], "expected table of str to str", id="mapping"),
        pytest.param(
            "slow", Literal["fast", "safe"], "expected one of 'fast', 'safe'", id="literal"
        ),
        pytest.param("x", int | None, "expected int or None, got 'x'", id="optional"),
    ],
)
def test_coerce_rejects_text_that_is_not_the_annotation(
    text: str, annotation: Any, message: str
) -> None:
    with pytest.raises(Invalid) as error:
        coerce(text, annotation)
    assert message in str(error.value)


def test_coerce_rejects_an_attribute_that_is_not_callable_where_an_app_is_expected() -> None:
    from wsgiref.types import WSGIApplication

    with pytest.raises(Invalid, match="is not callable: its type is bytes"):
        coerce("tests.wsgi_helpers:HELLO", WSGIApplication)


# --- filter_app(): a middleware from ini settings --------------------------------------------


def test_filter_app_coerces_every_option_from_the_signature() -> None:
    wrapped = paste.filter_app(
        TAGGER,
        echo,
        {
            "tag": "ini",
            "times": "2",
            "ratio": "0.25",
            "enabled": "off",
            "names": "a, b",
            "pair": "3 4",
            "headers": "X-A = 1\nX-B = two",
            "mode": "fast",
            "limit": "",
            "fallback": "tests.config_layers:other",
        },
        {},
    )
    assert isinstance(wrapped, Tagger)
    assert (wrapped.tag, wrapped.times, wrapped.ratio, wrapped.enabled) == ("ini", 2, 0.25, False)
    assert (wrapped.names, wrapped.pair, wrapped.mode) == (["a", "b"], (3, 4), "fast")
    assert wrapped.headers == {"X-A": "1", "X-B": "two"}
    assert wrapped.limit is None
    assert wrapped.fallback is config_layers.other
    assert drive(wrapped).body == b"ini,ini"


def test_filter_app_expands_environment_variables() -> None:
    wrapped = paste.filter_app(TAGGER, echo, {"times": "${N:-3}", "tag": "${T}"}, {"T": "e"})
    assert drive(wrapped).body == b"e,e,e"


def test_filter_app_unknown_option_names_it() -> None:
    with pytest.raises(ConfigError) as error:
        paste.filter_app(TAGGER, echo, {"colour": "red"}, {})
    assert str(error.value).startswith(
        f"[filter] use = egg:wsgi-middlewares#{TAGGER}: option 'colour': unknown option; "
    )
    assert "tag, times" in str(error.value)


def test_filter_app_bad_value_names_option_and_type() -> None:
    with pytest.raises(ConfigError, match=r"option 'times': expected int, got 'two' \(str\)"):
        paste.filter_app(TAGGER, echo, {"times": "two"}, {})


def test_filter_app_constructor_rejection_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"ValueError: times must be at least 1, got 0"):
        paste.filter_app(TAGGER, echo, {"times": "0"}, {})


def test_filter_app_passes_unknown_options_to_a_class_taking_any() -> None:
    wrapped = paste.filter_app("tests.config_layers:Loose", echo, {"level": "4", "x": "y"}, {})
    assert (wrapped.level, wrapped.options) == (4, {"x": "y"})


# --- the factories and their entry points ----------------------------------------------------


def test_there_is_one_factory_per_short_name_with_the_paste_signature() -> None:
    for name in REGISTRY:
        factory = getattr(paste, name)
        assert factory.__name__ == name
        parameters = list(inspect.signature(factory).parameters.values())
        assert [p.name for p in parameters] == ["app", "global_conf", "local_conf"]
        assert parameters[-1].kind is inspect.Parameter.VAR_KEYWORD


def test_every_short_name_is_a_paste_filter_app_factory_entry_point() -> None:
    found = {
        ep.name: ep.value
        for ep in entry_points(group="paste.filter_app_factory")
        if ep.dist is not None and ep.dist.name == "wsgi-middlewares"
    }
    assert found == {name: f"middlewares.paste:{name}" for name in REGISTRY}


# --- PasteDeploy itself loads them -----------------------------------------------------------

PIPELINE = """
[pipeline:main]
pipeline = cors app

[filter:cors]
use = egg:wsgi-middlewares#cors
allow_origins = https://a.example, https://b.example
max_age = {max_age}

[app:app]
use = call:middlewares.paste:app_factory
app = tests.config_layers:echo
"""


def test_paste_deploy_loads_an_ini_pipeline_through_the_entry_points(tmp_path: Path) -> None:
    ini = tmp_path / "site.ini"
    ini.write_text(PIPELINE.format(max_age="60"))
    app = TestApp(loadapp(f"config:{ini}"))
    response = app.get("/", headers={"Origin": "https://b.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://b.example"
    preflight = app.options(
        "/", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.headers["Access-Control-Max-Age"] == "60"  # the ini string, now an int


def test_paste_deploy_reports_a_bad_value_by_option(tmp_path: Path) -> None:
    ini = tmp_path / "site.ini"
    ini.write_text(PIPELINE.format(max_age="soon"))
    with pytest.raises(ConfigError, match=r"#cors: option 'max_age': expected int or None"):
        loadapp(f"config:{ini}")


def test_app_factory_rejects_what_is_not_module_attribute() -> None:
    with pytest.raises(ConfigError, match=r"app: expected a callable or \"module:attribute\""):
        paste.app_factory({}, app="echo")


def test_app_factory_rejects_an_attribute_that_is_not_callable() -> None:
    with pytest.raises(ConfigError, match=r"app: 'tests.wsgi_helpers:HELLO' is not callable"):
        paste.app_factory({}, app="tests.wsgi_helpers:HELLO")


def test_the_site_ini_example_loads_outermost_first() -> None:
    app = loadapp("config:" + str(ROOT / "examples" / "site.ini"))
    assert type(app).__name__ == "ProxyFix"
    # drive(), not WebTest: WebTest decodes the body and drops Content-Encoding.
    result = drive(
        app,
        environ={
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_FORWARDED_FOR": "203.0.113.5",
            "HTTP_ACCEPT_ENCODING": "gzip",
        },
    )
    assert dict(result.headers)["Content-Encoding"] == "gzip"
    assert b'<td id="client">203.0.113.5</td>' in gzip.decompress(result.body)
