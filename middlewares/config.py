"""``load(source)``: a WSGI application from a TOML file or a mapping, checked before it runs.

A configuration names the application and the layers around it, outermost first::

    app = "myproject.wsgi:application"

    [[middleware]]
    use = "proxy_fix"                 # a short name, or "package.module:Class"
    x_for = 1
    trusted = ["10.0.0.0/8", "${PROXY_IP:-127.0.0.1}"]

Options are checked against the middleware's own constructor: its keyword parameters are the
options, their annotations the expected types.  Nothing here knows any middleware's options, so
a third-party class (``use = "package.module:Class"``) is checked the same way.  The same
introspection coerces PasteDeploy's ini strings (:mod:`middlewares.paste`): one place for all.
"""

from __future__ import annotations

import difflib
import functools
import os
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._options import Invalid, conform, expand, import_string, options_of
from .stack import Stack, describe, shown

__all__ = ["REGISTRY", "Config", "ConfigError", "Layer", "load", "resolve"]

#: Short names for ``use``, each an import string resolved only when a layer uses it.
REGISTRY: Mapping[str, str] = types.MappingProxyType(
    {
        "proxy_fix": "middlewares.proxy_fix:ProxyFix",
        "request_log": "middlewares.request_log:RequestLogger",
        "cors": "middlewares.cors:CORS",
        "compress": "middlewares.compress:Compress",
        "static": "middlewares.static:StaticFiles",
        "dispatcher": "middlewares.dispatch:Dispatcher",
        "profiler": "middlewares.profiler:Profiler",
    }
)

_TOP_LEVEL = ("app", "middleware")


class ConfigError(ValueError):
    """A configuration that cannot be loaded; the message names the file, layer and option."""


@dataclass(frozen=True)
class Layer:
    """One resolved ``[[middleware]]`` entry: what it uses and its checked options."""

    index: int
    use: str
    factory: Callable[..., Any]
    options: dict[str, Any]
    effective: dict[str, Any]

    @property
    def layer(self) -> Callable[[Any], Any]:
        """The layer for :func:`middlewares.stack`: the factory with its options bound."""
        return functools.partial(self.factory, **self.options)


@dataclass(frozen=True)
class Config:
    """A checked configuration: the app and its layers, outermost first; :meth:`build` runs it."""

    origin: str
    app_name: str
    app: Any
    layers: tuple[Layer, ...]

    def build(self) -> Stack:
        """Construct the layers, innermost first, around the app.

        :raises ConfigError: a middleware's constructor rejected its options.
        """
        wrapped = self.app
        for layer in reversed(self.layers):
            try:
                wrapped = layer.layer(wrapped)
            except Exception as exc:
                raise ConfigError(f"{self._where(layer)}: {type(exc).__name__}: {exc}") from exc
            if not callable(wrapped):  # as stack() refuses it: every request would fail
                raise ConfigError(
                    f"{self._where(layer)}: returned {wrapped!r}, which is not a WSGI "
                    "callable; a layer takes the app it wraps and returns an app"
                )
        return Stack(self.app, tuple(layer.layer for layer in self.layers), wrapped)

    def describe(self) -> str:
        """The stack outermost first, each layer with its effective options (for ``check``)."""
        count = len(self.layers)
        lines = [f"{self.origin}: {count} layer{'' if count == 1 else 's'}, outermost first"]
        for layer in self.layers:
            lines.append(f"  {layer.index}. {layer.use} ({describe(layer.factory)})")
            lines += [f"       {name} = {shown(name, v)}" for name, v in layer.effective.items()]
        lines.append(f"  app: {self.app_name}")
        return "\n".join(lines)

    def _where(self, layer: Layer) -> str:
        return f"{self.origin}: layer {layer.index} (use = {layer.use!r})"


def resolve(
    source: str | os.PathLike[str] | Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Config:
    """Read and check ``source`` (a ``.toml`` path or a mapping) without constructing anything.

    :raises ConfigError: the message names the file, the layer (1 is the outermost) and the option.
    """
    if isinstance(source, Mapping):
        origin, data, directory = "<config>", dict(source), os.getcwd()
    else:
        origin = os.fspath(source)
        directory = os.path.dirname(os.path.abspath(origin))
        try:
            with open(origin, "rb") as file:
                data = tomllib.load(file)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
        except UnicodeDecodeError as exc:  # tomllib.load() reads only UTF-8 (TOML 1.0)
            raise ConfigError(
                f"{origin}: not UTF-8, which TOML requires: byte {exc.object[exc.start]:#04x} "
                f"at offset {exc.start}"
            ) from exc
    # ${CONFIG_DIR} is the file's directory, so a copied example finds its own files.
    environ = {**(os.environ if environ is None else environ), "CONFIG_DIR": directory}
    unknown = sorted(set(data) - set(_TOP_LEVEL))
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level key {unknown[0]!r}; expected {_TOP_LEVEL}")
    if "app" not in data:
        raise ConfigError(f'{origin}: missing app = "module:attribute" (the WSGI application)')
    try:
        app_spec = expand(data["app"], environ)
        app = app_spec if callable(app_spec) else conform(str(app_spec), Callable[..., Any])
    except Invalid as exc:
        raise ConfigError(f"{origin}: app: {exc}") from exc
    entries = data.get("middleware", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ConfigError(f"{origin}: middleware must be a list of tables ([[middleware]])")
    layers = tuple(_layer(origin, index, entry, environ) for index, entry in enumerate(entries, 1))
    return Config(origin, app_spec if isinstance(app_spec, str) else describe(app), app, layers)


def _layer(origin: str, index: int, entry: Mapping[str, Any], environ: Mapping[str, str]) -> Layer:
    use = entry.get("use")
    where = f"{origin}: layer {index} (use = {use!r})"
    if isinstance(use, str):
        spec = REGISTRY.get(use, use)
        if ":" not in spec:
            close = difflib.get_close_matches(use, REGISTRY, 1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{where}: unknown middleware; {hint}use one of {', '.join(REGISTRY)} "
                'or "package.module:Class"'
            )
        try:
            factory = import_string(spec)
        except Invalid as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    elif callable(use):
        factory, use = use, describe(use)
    else:
        raise ConfigError(f'{origin}: layer {index}: missing use = "short_name" or "module:Class"')
    if not callable(factory):
        raise ConfigError(f"{where}: {spec!r} is not callable")
    options, takes_any = options_of(factory)
    given: dict[str, Any] = {}
    for name, raw in entry.items():
        if name == "use":
            continue
        try:
            value = expand(raw, environ)
            if name in options:
                given[name] = conform(value, options[name].type)
            elif takes_any:
                given[name] = conform(value, Any)
            else:
                close = difflib.get_close_matches(name, options, 1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                known = ", ".join(options) or "none"
                raise Invalid(f"unknown option; {hint}{describe(factory)} takes: {known}")
        except Invalid as exc:
            raise ConfigError(f"{where}: option {name!r}: {exc}") from exc
    missing = [name for name, option in options.items() if option.required and name not in given]
    if missing:
        raise ConfigError(f"{where}: option {missing[0]!r} is required")
    effective = {n: given.get(n, o.default) for n, o in options.items()} | given
    return Layer(index, use, factory, given, effective)


def load(
    source: str | os.PathLike[str] | Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Stack:
    """Build the WSGI application a TOML file (or a mapping of the same shape) describes.

    ``use`` is a short name (``proxy_fix``, ``request_log``, ``cors``, ``compress``, ``static``,
    ``dispatcher``, ``profiler``) or ``"package.module:Class"``; the other keys are the class's
    keyword options, checked against its signature.  Strings take ``${VAR}`` and
    ``${VAR:-default}`` from the environment (``environ``, by default :data:`os.environ`).
    Configuration is code: only load files you trust, as they name modules to import::

        application = load("stack.toml")
        application = load({"app": "myproject.wsgi:application", "middleware": [{"use": "cors"}]})

    :param source: a path to a ``.toml`` file, or a mapping with ``app`` and ``middleware``.
    :param environ: where ``${VAR}`` values come from; :data:`os.environ` when ``None``.
    :raises ConfigError: naming the file, the layer (1 is the outermost), the option and what
        was expected; unknown ``use``, unknown option, wrong type, missing app, failed import.
    """
    return resolve(source, environ).build()
