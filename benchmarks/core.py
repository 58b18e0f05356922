"""The shared core's cost: the bare app, stack() with no layers, and one Responder layer.

Anchor: Werkzeug's ``ClosingIterator``-style pass-through is what a hand-written middleware
costs; ours should cost about the same while closing on every path.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Workload, hello_app, make_environ
from middlewares import stack
from middlewares._wsgi import Headers, Responder


class _Observe(Responder):
    def end(self) -> None:
        pass


class _Headers(Responder):
    watch_end = False

    def start(self, status: str, headers: Headers, body: Any) -> str:
        headers.append(("X-Seen", "1"))
        return status


def _layer(responder: type[Responder]) -> Any:
    def wrap(app: Any) -> Any:
        def mw(environ: Any, start_response: Any) -> Any:
            return responder(environ, start_response).run(app)

        return mw

    return wrap


def _handwritten(app: Any) -> Any:
    """What people write by hand: wrap start_response, return the body untouched."""

    def mw(environ: Any, start_response: Any) -> Any:
        def sr(status: str, headers: Headers, exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Seen", "1")], exc_info)

        return app(environ, sr)

    return mw


def main() -> None:
    candidates: dict[str, Any] = {
        "bare hello app": hello_app,
        "stack(app) no layers": stack(hello_app),
        "hand-written header layer": _handwritten(hello_app),
        "Responder, headers only": _layer(_Headers)(hello_app),
        "Responder, observing the end": _layer(_Observe)(hello_app),
    }
    try:
        from werkzeug.wsgi import ClosingIterator

        def werkzeug_closing(environ: Any, start_response: Any) -> Any:
            return ClosingIterator(hello_app(environ, start_response), [lambda: None])

        candidates["werkzeug ClosingIterator"] = werkzeug_closing
        anchor: str | None = "werkzeug ClosingIterator"
    except ImportError:  # the bench extra is not installed: print our rows alone
        anchor = None
    workload = Workload("core: hello", make_environ("/"), candidates, "bare hello app", anchor)
    workload.run()
    workload.report()


if __name__ == "__main__":
    main()
