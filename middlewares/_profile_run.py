"""The profiled response of :class:`middlewares.profiler.Profiler`: cProfile on for app code only.

The application is called by the middleware, but its body is iterated and closed from the
server's frames, between which the server writes to the socket.  So the profiler is enabled
around each step that runs application code (the call, each ``next()``, the ``close()``) and
disabled in between: the profile measures the application alone, and nothing is buffered.
"""

from __future__ import annotations

import cProfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from middlewares._wsgi import Responder, is_file_wrapper

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ProfiledResponse"]

T = TypeVar("T")


class ProfiledResponse(Responder):
    """One profiled response; ``on_end(self)`` runs exactly once when it ends (errors too)."""

    __slots__ = ("_app", "_on_end", "profile", "started", "wall")

    def __init__(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        app: WSGIApplication,
        on_end: Callable[[ProfiledResponse], None],
    ) -> None:
        super().__init__(environ, start_response)
        self._app = app
        self._on_end = on_end
        self.profile = cProfile.Profile()
        self.started = time.perf_counter()
        self.wall = time.time()

    def step(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` with the profiler on."""
        profile = self.profile
        try:
            profile.enable()
        except ValueError:
            # 3.12+: another tool (a debugger, a profiler around the whole server) holds the
            # interpreter's profiler slot; this step runs unprofiled rather than failing.
            return fn(*args)
        try:
            return fn(*args)
        finally:
            profile.disable()

    def profile_app(self) -> Iterable[bytes]:
        """Run the application (as :meth:`Responder.run` does) and return the server's body."""
        return self.run(self._call_app)

    def _call_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        body = self.step(self._app, environ, start_response)
        if isinstance(body, list | tuple):
            return body  # iterating a list runs no application code
        if is_file_wrapper(body, environ):
            return body  # reading a file is not application code; the server keeps sendfile
        return _ProfiledBody(self, body)

    def end(self) -> None:
        self._on_end(self)


class _ProfiledBody:
    """The application's body: each ``next()`` and the ``close()`` run under the profiler."""

    __slots__ = ("_body", "_it", "_r")

    def __init__(self, responder: ProfiledResponse, body: Iterable[bytes]) -> None:
        self._r = responder
        self._body = body
        self._it: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        it = self._it
        if it is None:
            it = self._it = self._r.step(self._body.__iter__)
        return self._r.step(it.__next__)

    def close(self) -> None:
        # Responder calls this exactly once (PEP 3333), errors included.
        close = getattr(self._body, "close", None)
        if close is not None:
            self._r.step(close)
