"""stack(): the first layer is the outermost; bad layers are named by position."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from webtest import TestApp

from middlewares import Stack, stack


def hello(environ: Any, start_response: Any) -> list[bytes]:
    environ.setdefault("seen", []).append("app")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


class Record:
    """A layer that records, on the way in, that the request passed it."""

    def __init__(self, app: Any, *, name: str = "record") -> None:
        self.app = app
        self.name = name

    def __call__(self, environ: Any, start_response: Any) -> Any:
        environ.setdefault("seen", []).append(self.name)
        return self.app(environ, start_response)


def test_first_layer_is_outermost() -> None:
    environ: dict[str, Any] = {}
    app = stack(
        hello,
        functools.partial(Record, name="a"),
        functools.partial(Record, name="b"),
        lambda inner: Record(inner, name="c"),
    )
    response = TestApp(app, extra_environ=environ).get("/")
    assert response.body == b"hello"
    assert response.request.environ["seen"] == ["a", "b", "c", "app"]


def test_no_layers_is_the_app() -> None:
    assert TestApp(stack(hello)).get("/").body == b"hello"


def test_repr_lists_layers_outermost_first() -> None:
    app = stack(hello, Record, functools.partial(Record, name="x"), lambda inner: inner)
    assert repr(app) == "<Stack Record -> Record(name='x') -> <lambda> -> hello>"
    assert isinstance(app, Stack)
    assert app.layers[0] is Record
    assert app.app is hello


def locked(app: Any, *, api_token: str, realm: str = "site") -> Any:
    """A layer with a secret option (its check is not the point here)."""
    return app


def test_repr_masks_the_value_of_a_secret_option() -> None:
    # repr() ends up in tracebacks, debuggers and print(app): a token there is a leaked token.
    app = stack(hello, functools.partial(locked, api_token="t0p-s3cret", realm="admin"))
    assert repr(app) == "<Stack locked(api_token='***', realm='admin') -> hello>"


def guarded(app: Any, *, allow_credentials: bool = False, tokens: Any = None) -> Any:
    """A layer whose option names look secret but whose flag value is not a secret."""
    return app


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"allow_credentials": True}, "allow_credentials=True", id="flag"),
        pytest.param({"tokens": None}, "tokens=None", id="none"),
        pytest.param({"tokens": ""}, "tokens=''", id="empty-string"),
        pytest.param({"tokens": b"t0p"}, "tokens='***'", id="bytes"),
        pytest.param({"tokens": ["t0p", "s3c"]}, "tokens=['***', '***']", id="list-of-strings"),
        pytest.param({"tokens": {"ci": "t0p"}}, "tokens={'ci': '***'}", id="table"),
    ],
)
def test_repr_masks_only_string_values_of_secret_names(
    options: dict[str, Any], expected: str
) -> None:
    # A security-relevant flag (CORS allow_credentials) must be visible in repr() and `check`.
    app = stack(hello, functools.partial(guarded, **options))
    assert repr(app) == f"<Stack guarded({expected}) -> hello>"


def test_non_callable_layer_is_named_by_position() -> None:
    with pytest.raises(TypeError, match=r"layer 2 \('nope'\) is not callable"):
        stack(hello, Record, "nope")  # type: ignore[arg-type]


def test_layer_returning_non_callable_is_named_by_position() -> None:
    with pytest.raises(TypeError, match=r"layer 1 \(<lambda>\) returned None"):
        stack(hello, lambda inner: None, Record)


def test_non_callable_app_is_refused() -> None:
    with pytest.raises(TypeError, match="app must be a WSGI callable"):
        stack(42)  # type: ignore[arg-type]


def test_import_face() -> None:
    import middlewares

    assert middlewares.stack is stack
    assert "stack" in middlewares.__all__
