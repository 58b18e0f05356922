"""``stack(app, *layers)``: wrap an application in layers, the first one outermost."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Stack", "stack"]

Layer = Callable[[Any], Any]

# Option names whose string values :func:`shown` masks (``viewer_token``, ``client_secret``...).
_SECRET = re.compile(r"token|secret|password|passwd|credential", re.IGNORECASE)


def describe(layer: object) -> str:
    """A short readable name for a layer: ``Compress``, ``ProxyFix(x_for=2)``, ``<lambda>``.

    A keyword option is shown as :func:`shown` shows it: a secret's value is masked.
    """
    if isinstance(layer, functools.partial):
        args = [repr(a) for a in layer.args]
        args += [f"{key}={shown(key, value)}" for key, value in layer.keywords.items()]
        return f"{describe(layer.func)}({', '.join(args)})"
    name = getattr(layer, "__qualname__", None) or getattr(layer, "__name__", None)
    if isinstance(name, str):
        return name.rsplit("<locals>.", 1)[-1]  # a layer defined in a function: its own name
    return repr(layer)


def shown(name: str, value: Any) -> str:
    """An option's value as a stack's ``repr()`` and ``middlewares check`` show it.

    A non-empty string (or bytes) in an option whose name says it is a secret (``viewer_token``)
    is masked, also inside a list or a table; other values of such an option (a flag such as
    ``allow_credentials``, ``None``) are not secrets and are shown.  Sets are sorted, so the text
    is the same from run to run; apps are shown by name.
    """
    if value and isinstance(value, str | bytes) and _SECRET.search(name):
        return "'***'"  # a token in a terminal, a CI log or a traceback is a leaked token
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(sorted(shown(name, item) for item in value)) + "}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {shown(name, v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(name, item) for item in value) + "]"
    if isinstance(value, str):
        return repr(str(value))
    if callable(value) and hasattr(value, "__module__") and hasattr(value, "__qualname__"):
        return f"{value.__module__}:{value.__qualname__}"
    return repr(value)


class Stack:
    """A WSGI application made of ``layers`` around ``app``; ``layers[0]`` is the outermost.

    Calling it calls the outermost layer's application.  ``repr()`` lists the layers outermost
    first, then the application, so ``middlewares check`` and a debugger show the same order a
    request takes.
    """

    __slots__ = ("_outer", "app", "layers")

    def __init__(self, app: WSGIApplication, layers: tuple[Layer, ...], outer: WSGIApplication):
        self.app = app
        self.layers = layers
        self._outer = outer

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._outer(environ, start_response)

    def __repr__(self) -> str:
        names = [describe(layer) for layer in self.layers] + [describe(self.app)]
        return f"<Stack {' -> '.join(names)}>"


def stack(app: WSGIApplication, *layers: Layer) -> Stack:
    """Wrap ``app`` in ``layers``; the first layer is the outermost.

    A layer is any callable that takes the application it wraps and returns an application: a
    middleware class (its defaults), ``functools.partial(ProxyFix, x_for=2)``, or a lambda.  A
    request passes through the layers in the order they are written, as in PasteDeploy's
    ``pipeline = a b c app``::

        app = stack(app, ProxyFix, RequestLogger, partial(CORS, allow_origins=["https://a.test"]))

    :raises TypeError: ``app`` or a layer is not callable, or a layer returned a non-callable;
        the message names the layer's position (1 is the outermost).
    """
    if not callable(app):
        raise TypeError(f"stack(): app must be a WSGI callable, got {app!r}")
    for position, layer in enumerate(layers, 1):
        if not callable(layer):
            raise TypeError(
                f"stack(): layer {position} ({layer!r}) is not callable; a layer takes the "
                "app it wraps and returns an app"
            )
    wrapped: Any = app
    for position in range(len(layers), 0, -1):
        layer = layers[position - 1]
        wrapped = layer(wrapped)
        if not callable(wrapped):
            raise TypeError(
                f"stack(): layer {position} ({describe(layer)}) returned {wrapped!r}, "
                "which is not a WSGI callable"
            )
    return Stack(app, tuple(layers), wrapped)
