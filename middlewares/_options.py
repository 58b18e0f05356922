"""Options from a constructor's signature: check typed values, coerce strings, expand ``${VAR}``.

Shared by :mod:`middlewares.config` (TOML values, which are typed) and :mod:`middlewares.paste`
(ini values, which are all strings): a middleware's keyword parameters are its options and their
annotations the expected types, so nothing here knows any middleware, and a third-party class is
checked the same way as ours.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import os
import re
import types
import typing
import wsgiref.types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ._wsgi import import_string as _import_string

__all__ = [
    "Invalid",
    "Option",
    "coerce",
    "conform",
    "expand",
    "import_string",
    "options_of",
    "type_name",
]

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_SEQUENCES = {list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection}
_SETS = {set, frozenset, cabc.Set, cabc.MutableSet}
_MAPPINGS = {dict, cabc.Mapping, cabc.MutableMapping}
# Names an annotation may use that its module imports only under TYPE_CHECKING.
_FALLBACK_NAMES: dict[str, Any] = {
    **{name: getattr(cabc, name) for name in cabc.__all__},
    **{name: getattr(wsgiref.types, name) for name in wsgiref.types.__all__},
    "Any": Any,
    "Literal": typing.Literal,
    "Optional": typing.Optional,
    "Union": typing.Union,
}


class Invalid(Exception):
    """A value that does not fit an option's type; ``str()`` says what was expected."""


class _Expanded(str):
    """A string that took environment values: coerced like an ini string when not a ``str``."""

    __slots__ = ()


# --- importing ----------------------------------------------------------------------------------


def import_string(spec: str) -> Any:
    """:func:`middlewares._wsgi.import_string`, failing with :class:`Invalid`."""
    try:
        return _import_string(spec)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


# --- a constructor's options --------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One keyword option of a middleware: its name, resolved type and default."""

    name: str
    type: Any
    default: Any

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def options_of(factory: Callable[..., Any]) -> tuple[dict[str, Option], bool]:
    """The options ``factory`` takes after its positional app, and whether it takes ``**kwargs``.

    Annotations are resolved one by one in the defining module; one that cannot be resolved
    (a name imported only for type checkers) is treated as ``Any`` rather than failing.
    """
    code = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
    namespace = {**_FALLBACK_NAMES, **getattr(inspect.unwrap(code), "__globals__", {})}
    parameters = list(inspect.signature(factory).parameters.values())
    if parameters and parameters[0].kind in (
        parameters[0].POSITIONAL_ONLY,
        parameters[0].POSITIONAL_OR_KEYWORD,
    ):
        parameters = parameters[1:]  # the wrapped app
    options = {
        p.name: Option(p.name, _resolve(p.annotation, namespace), p.default)
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    return options, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    if annotation is inspect.Parameter.empty:
        return Any
    if not isinstance(annotation, str):
        return annotation

    def holder() -> None: ...

    holder.__annotations__ = {"value": annotation}
    try:
        return typing.get_type_hints(holder, globalns=namespace)["value"]
    except Exception:  # an annotation we cannot evaluate is not checked, not fatal
        return Any


# --- checking typed values (TOML, Python) and coercing strings (ini, environment) ---------------


def type_name(tp: Any) -> str:
    """``tp`` in words, for error messages: ``list of str``, ``int or None``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None) or tp is None:
        return "None"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(arm) for arm in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in _SEQUENCES or origin in _SETS or origin is tuple:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in _MAPPINGS:
        return f"table of {type_name(args[0])} to {type_name(args[1])}" if args else "table"
    if origin is cabc.Callable or tp is cabc.Callable:
        return 'a callable or "module:attribute"'
    return getattr(tp, "__name__", None) or repr(tp)


def conform(value: Any, tp: Any) -> Any:
    """``value`` checked against the annotation ``tp`` and converted where lossless.

    TOML arrays become the annotated container, ints become floats where a float is expected,
    ``"module:attribute"`` strings are imported where a callable (a WSGI app) is expected, and
    strings that took environment values are coerced as ini strings are.

    :raises Invalid: the value does not fit; the message says what was expected.
    """
    if isinstance(value, _Expanded):
        try:
            return conform(str(value), tp)
        except Invalid:
            return coerce(str(value), tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object or isinstance(tp, typing.TypeVar):
        return value
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            try:
                return conform(value, arm)
            except Invalid:
                continue
    elif origin is typing.Annotated:
        return conform(value, args[0])
    elif origin is typing.Literal:
        if any(value == arg and type(value) is type(arg) for arg in args):
            return value
    elif origin in _SEQUENCES or origin in _SETS or origin is tuple or tp in _SEQUENCES:
        if isinstance(value, list | tuple):
            return _container(tp, list(value), conform)
    elif origin in _MAPPINGS or tp in _MAPPINGS:
        if isinstance(value, Mapping):
            key_type, value_type = args or (Any, Any)
            return {conform(k, key_type): conform(v, value_type) for k, v in value.items()}
    elif origin is cabc.Callable or tp is cabc.Callable:
        if callable(value):
            return value
        if isinstance(value, str) and ":" in value:
            loaded = import_string(value)
            if callable(loaded):
                return loaded
            # Refused here, not on the first request: every request would fail calling it.  Its
            # type only: the value may be anything, a settings module's secret key included.
            raise Invalid(f"{value!r} is not callable: its type is {type(loaded).__name__}")
    else:
        return _conform_plain(value, tp)
    raise Invalid(_expected(tp, value))


def _conform_plain(value: Any, tp: Any) -> Any:
    if tp is None or tp is type(None):
        if value is None:
            return None
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is os.PathLike or typing.get_origin(tp) is os.PathLike:
        if isinstance(value, str | os.PathLike):
            return Path(value)
    elif isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, str | os.PathLike):
            return tp(value)
    elif isinstance(tp, type):
        try:
            if isinstance(value, tp):
                return value
        except TypeError:  # a Protocol that cannot be checked at run time: the constructor will
            return value
    else:
        return value  # NewType, ForwardRef...: left to the constructor
    raise Invalid(_expected(tp, value))


def coerce(text: str, tp: Any) -> Any:
    """The string ``text`` (an ini value, an environment value) read as the annotation ``tp``.

    Booleans are ``true/false``, ``yes/no``, ``on/off``, ``1/0``; lists are split on whitespace and
    commas; mappings are ``key = value`` lines; an empty string is ``None`` where ``None`` is
    allowed; a callable is imported from ``"module:attribute"``.

    :raises Invalid: the text cannot be read as ``tp``.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object or tp is str or isinstance(tp, typing.TypeVar):
        return text
    if origin in (typing.Union, types.UnionType):
        if not text.strip() and type(None) in args:
            return None
        for arm in sorted(args, key=lambda arm: arm is str):  # str, which takes anything, last
            try:
                return coerce(text, arm)
            except Invalid:
                continue
    elif origin is typing.Annotated:
        return coerce(text, args[0])
    elif origin is typing.Literal:
        for arg in args:
            try:
                if coerce(text, type(arg)) == arg:
                    return arg
            except Invalid:
                continue
    elif tp is bool:
        if text.strip().lower() in _TRUE | _FALSE:
            return text.strip().lower() in _TRUE
    elif tp is int or tp is float:
        try:
            return tp(text.strip())
        except ValueError:
            pass
    elif origin in _SEQUENCES or origin in _SETS or origin is tuple or tp in _SEQUENCES:
        items = [item for item in re.split(r"[\s,]+", text) if item]
        return _container(tp, items, coerce)
    elif origin in _MAPPINGS or tp in _MAPPINGS:
        key_type, value_type = args or (str, str)
        pairs = [line.split("=", 1) for line in text.splitlines() if line.strip()]
        if all(len(pair) == 2 for pair in pairs):
            return {
                coerce(key.strip(), key_type): coerce(value.strip(), value_type)
                for key, value in pairs
            }
    else:
        return conform(text, tp)
    raise Invalid(_expected(tp, text))


def _container(tp: Any, items: list[Any], item: Callable[[Any, Any], Any]) -> Any:
    """``items`` converted by ``item`` into the container the annotation ``tp`` names."""
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(items) != len(args):
            raise Invalid(f"expected {len(args)} items, got {len(items)}: {items!r}")
        types_ = args
    else:
        types_ = (args[0] if args else Any,) * len(items)
    converted = []
    for number, (value, item_type) in enumerate(zip(items, types_, strict=True), 1):
        try:
            converted.append(item(value, item_type))
        except Invalid as exc:
            raise Invalid(f"expected {type_name(tp)}; item {number}: {exc}") from exc
    if origin is tuple:
        return tuple(converted)
    return frozenset(converted) if origin in _SETS else converted


def _expected(tp: Any, value: Any) -> str:
    return f"expected {type_name(tp)}, got {value!r} ({type(value).__name__})"


def expand(value: Any, environ: Mapping[str, str]) -> Any:
    """``value`` with ``${VAR}`` and ``${VAR:-default}`` in its strings taken from ``environ``.

    ``:-`` takes the default when the variable is unset or empty, as in POSIX shells; ``$$`` is
    a literal ``$``.  Lists and tables are expanded item by item.

    :raises Invalid: a variable without a default is not set.
    """
    if isinstance(value, str):
        if "$" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name is None:
                return "$"
            found = environ.get(name)
            if found is None or (found == "" and default is not None):
                if default is None:
                    raise Invalid(
                        f"environment variable {name} is not set (or write ${{{name}:-default}})"
                    )
                return default
            return found

        return _Expanded(_VARIABLE.sub(substitute, value))
    if isinstance(value, list):
        return [expand(item, environ) for item in value]
    if isinstance(value, Mapping):
        return {key: expand(item, environ) for key, item in value.items()}
    return value
