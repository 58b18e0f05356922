"""PasteDeploy filter factories: every middleware in an ini pipeline, its strings typed once.

Each short name of :data:`middlewares.config.REGISTRY` is a ``paste.filter_app_factory`` entry
point of the ``wsgi-middlewares`` distribution, so an existing ini file (read by
``gunicorn --paste``, uWSGI, pserve or :func:`paste.deploy.loadapp`) can use them::

    [pipeline:main]
    pipeline = cors app

    [filter:cors]
    use = egg:wsgi-middlewares#cors
    allow_origins = https://app.example https://admin.example

Ini values are all strings.  Rather than each factory parsing its own (PasteDeploy's TransLogger
factory passes ``logging_level = INFO`` on as a string and crashes), one function,
:func:`middlewares._options.coerce`, reads every value as the constructor's annotation says:
ints, floats, booleans (``true/false``, ``yes/no``, ``on/off``, ``1/0``), lists split on
whitespace and commas, mappings from ``key = value`` lines, ``"module:attribute"`` for an app.
``${VAR}`` and ``${VAR:-default}`` take the environment, as in TOML files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._options import Invalid, coerce, expand, import_string, options_of
from .config import REGISTRY, ConfigError

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

__all__ = [
    "app_factory",
    "compress",
    "cors",
    "dispatcher",
    "filter_app",
    "profiler",
    "proxy_fix",
    "request_log",
    "static",
]

FilterFactory = Callable[..., "WSGIApplication"]


def filter_app(
    use: str,
    app: WSGIApplication,
    settings: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> WSGIApplication:
    """Wrap ``app`` in the middleware ``use`` (a short name), its options read from ini strings.

    :raises ConfigError: naming the entry point (``egg:...#name``) and the option: unknown
        option, a value that cannot be read as the annotated type, or the constructor's own
        rejection.
    """
    environ = os.environ if environ is None else environ
    where = f"[filter] use = egg:wsgi-middlewares#{use}"
    try:
        factory = import_string(REGISTRY.get(use, use))
    except Invalid as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    options, takes_any = options_of(factory)
    kwargs: dict[str, Any] = {}
    for name, text in settings.items():
        try:
            value = str(expand(text, environ))
            if name in options:
                kwargs[name] = coerce(value, options[name].type)
            elif takes_any:
                kwargs[name] = value
            else:
                raise Invalid(f"unknown option; {use} takes: {', '.join(options)}")
        except Invalid as exc:
            raise ConfigError(f"{where}: option {name!r}: {exc}") from exc
    try:
        wrapped: WSGIApplication = factory(app, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {type(exc).__name__}: {exc}") from exc
    return wrapped


def app_factory(global_conf: Mapping[str, str], *, app: str) -> WSGIApplication:
    """``paste.app_factory`` for any WSGI application named ``"module:attribute"``.

    Puts an application that has no PasteDeploy factory of its own (a Flask app, Django's
    ``wsgi.application``) at the end of an ini pipeline::

        [app:main]
        use = call:middlewares.paste:app_factory
        app = myproject.wsgi:application
    """
    try:
        loaded = coerce(str(expand(app, os.environ)), Callable[..., Any])
    except Invalid as exc:
        raise ConfigError(f"[app] use = call:middlewares.paste:app_factory: app: {exc}") from exc
    return loaded  # type: ignore[no-any-return]


def _factory(use: str) -> FilterFactory:
    def factory(app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str) -> Any:
        # global_conf holds [DEFAULT] and PasteDeploy's own "here"/"__file__"; only the
        # filter's own section configures the middleware.
        return filter_app(use, app, local_conf)

    factory.__name__ = factory.__qualname__ = use
    factory.__doc__ = f"``paste.filter_app_factory`` for ``{REGISTRY[use]}``."
    return factory


proxy_fix = _factory("proxy_fix")
request_log = _factory("request_log")
cors = _factory("cors")
compress = _factory("compress")
static = _factory("static")
dispatcher = _factory("dispatcher")
profiler = _factory("profiler")
