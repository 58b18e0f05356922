"""Stand-in third-party middleware for the configuration tests: typed keyword options.

``Tagger`` appends its tag to ``environ["tags"]`` and passes the request on, so the order of the
layers shows in the body the ``echo`` app returns.  Named from configs as
``"tests.config_layers:Tagger"``, exactly as a user names their own middleware.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Answers with the tags the layers added, outermost first, comma-separated."""
    body = ",".join(environ.get("tags", [])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def other(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"other"]


class Tagger:
    """Adds ``tag`` to ``environ["tags"]``; every other option is kept for the tests to read."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        tag: str = "t",
        times: int = 1,
        ratio: float = 1.0,
        enabled: bool = True,
        names: Sequence[str] = (),
        pair: tuple[int, int] = (0, 0),
        headers: Mapping[str, str] | None = None,
        mode: Literal["fast", "safe"] = "safe",
        limit: int | None = None,
        fallback: WSGIApplication | None = None,
        mounts: Mapping[str, WSGIApplication] | None = None,
    ) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        self.app = app
        self.tag, self.times, self.ratio, self.enabled = tag, times, ratio, enabled
        self.names, self.pair, self.headers, self.mode = names, pair, headers, mode
        self.limit, self.fallback, self.mounts = limit, fallback, mounts

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ.setdefault("tags", []).extend([self.tag] * self.times)
        return self.app(environ, start_response)


class Needy:
    """A middleware with a required option."""

    def __init__(self, app: WSGIApplication, *, secret: str) -> None:
        self.app, self.secret = app, secret

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.app(environ, start_response)


class Loose:
    """A middleware that takes any option (``**options``): passed on unchecked."""

    def __init__(self, app: WSGIApplication, *, level: int = 0, **options: Any) -> None:
        self.app, self.level, self.options = app, level, options

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.app(environ, start_response)


def tagging(app: WSGIApplication, *, tag: str = "f") -> WSGIApplication:
    """A middleware factory that is a function, not a class."""
    return Tagger(app, tag=tag)
