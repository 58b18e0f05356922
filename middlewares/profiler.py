"""Profiler: per-request cProfile profiles, sampled or triggered, safe to leave installed."""

from __future__ import annotations

import functools
import hmac
import io
import os
import pstats
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote_plus

from middlewares._profile_files import FORMATS, file_part, render, write_new
from middlewares._profile_formats import StatsDict
from middlewares._profile_run import ProfiledResponse
from middlewares._profile_viewer import Viewer

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["FORMATS", "Profiler"]

# CPython 3.12+ lets one cProfile profiler be active per interpreter (it takes
# sys.monitoring's PROFILER_ID tool slot; werkzeug issue #2909).  The slot is one per process,
# so this lock is too: it is only ever taken without blocking and held for one request.
_PROFILER_SLOT = threading.Lock()

_TRIGGER_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _text(value: str) -> str:
    # PEP 3333 "Unicode Issues": environ strings are bytes decoded as latin-1; show them as UTF-8.
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


def _reseed(ref: weakref.ref[random.Random]) -> None:
    rng = ref()
    if rng is not None:
        rng.seed()  # from os.urandom: forked workers must not draw the same samples


class Profiler:
    """Profile whole requests with :mod:`cProfile`: sampled or triggered, written as viewable files.

    Profiles the application call and the iteration of its body until ``close()``, streaming the
    body through (nothing is buffered), and writes per request a text summary and/or files in
    ``profile_dir``: ``pstats`` (``.prof``, for :mod:`pstats` and snakeviz), ``speedscope``
    (``.speedscope.json``), ``callgrind`` (KCachegrind) and ``html`` (a flame graph page).

    Security: profiles show code paths, timings and request paths.  Requests are profiled only
    by ``sample_rate`` or by a ``trigger`` carrying the secret ``viewer_token``; the viewer page
    is off unless ``viewer_path`` is set and answers only with the token (in the
    ``X-Profiler-Token`` header or the ``token`` query parameter).  Prefer the header: query
    strings end up in access logs.  One request at a time is profiled per process; the others
    run unprofiled and are counted in :attr:`skipped_busy`.

    Usage::

        app = Profiler(app, profile_dir="/tmp/profiles", formats=("pstats", "html"),
                       sample_rate=0.01, trigger="X-Profile", viewer_token=os.environ["TOKEN"])

    :param app: the WSGI application to profile.
    :param stream: a text stream for the summary of each profile; with neither ``stream`` nor
        ``profile_dir`` the summary goes to the request's ``wsgi.errors``.
    :param sort_by: :meth:`pstats.Stats.sort_stats` keys for the summary.
    :param restrictions: :meth:`pstats.Stats.print_stats` restrictions (a count, a fraction,
        a regular expression) for the summary.
    :param profile_dir: an existing directory to write each profile's files into.
    :param filename_format: the file name (without directory) as a :meth:`str.format` string
        with ``method``, ``path``, ``elapsed`` (ms) and ``time`` (epoch seconds), or a callable
        taking the environ (``environ["middlewares.profiler"]`` holds ``elapsed`` and ``time``).
        Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``; the query
        string is never part of the default name.  A trailing ``.prof`` is replaced by each
        format's extension; an existing file is never overwritten.
    :param sample_rate: the fraction of requests profiled, from 0.0 (none) to 1.0 (all).
    :param trigger: a header and query parameter name (e.g. ``"X-Profile"``) whose value, when
        equal to ``viewer_token``, profiles this request whatever the sample rate; the header
        and the parameter are then both removed from the environ (also when sampling would have
        picked the request anyway), so the application never sees the secret.
    :param formats: the files written into ``profile_dir``: any of ``"pstats"``,
        ``"speedscope"``, ``"callgrind"``, ``"html"``.
    :param viewer_path: a path (e.g. ``"/_profiler"``) serving a page that lists recent
        profiles in ``profile_dir`` with links to their files; needs ``viewer_token``,
        ``profile_dir`` and the ``"html"`` format.  Off by default.
    :param viewer_token: the secret (at least 16 characters, e.g. from
        :func:`secrets.token_urlsafe`) that ``trigger`` and ``viewer_path`` require.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        stream: IO[str] | None = None,
        sort_by: Iterable[str] = ("cumulative", "calls"),
        restrictions: Iterable[int | float | str] = (30,),
        profile_dir: str | os.PathLike[str] | None = None,
        filename_format: str | Callable[[WSGIEnvironment], str] = (
            "{method}.{path}.{elapsed:.0f}ms.{time:.0f}.prof"
        ),
        sample_rate: float = 1.0,
        trigger: str | None = None,
        formats: Iterable[str] = ("pstats",),
        viewer_path: str | None = None,
        viewer_token: str | None = None,
    ) -> None:
        self.app = app
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError("stream must be a text stream with write(), or None")
        self._stream = stream
        self._sort_by = _strings("sort_by", sort_by)
        for key in self._sort_by:
            if key not in pstats.Stats.sort_arg_dict_default:
                raise ValueError(f"sort_by: {key!r} is not a pstats sort key")
        if isinstance(restrictions, str | bytes):
            raise TypeError("restrictions must be a tuple, e.g. (30,) or ('myapp', 20)")
        self._restrictions = tuple(restrictions)
        for item in self._restrictions:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                raise TypeError(f"restrictions: {item!r} is not a count, fraction or regex")
        self._dir = os.fspath(profile_dir) if profile_dir is not None else None
        if self._dir is not None and not os.path.isdir(self._dir):
            raise ValueError(f"profile_dir={self._dir!r} is not an existing directory")
        if isinstance(filename_format, str):
            try:
                filename_format.format(method="GET", path="root", elapsed=1.5, time=1e9)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"filename_format: {exc!r}; use the fields method, path, elapsed, time"
                ) from None
        elif not callable(filename_format):
            raise TypeError("filename_format must be a format string or a callable(environ)")
        self._filename_format = filename_format
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
            raise TypeError("sample_rate must be a number from 0.0 to 1.0")
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate={sample_rate!r} must be from 0.0 to 1.0")
        self._formats = _strings("formats", formats)
        unknown = [name for name in self._formats if name not in FORMATS]
        if unknown or not self._formats or len(set(self._formats)) != len(self._formats):
            raise ValueError(f"formats must name some of {', '.join(FORMATS)} once each")
        if viewer_token is not None:
            if not isinstance(viewer_token, str):
                raise TypeError("viewer_token must be a str")
            if len(viewer_token) < 16 or not re.fullmatch(r"[!-~]+", viewer_token):
                raise ValueError(
                    "viewer_token must be at least 16 visible ASCII characters; "
                    "use secrets.token_urlsafe()"
                )
        self._token = viewer_token.encode() if viewer_token is not None else b""
        self._trigger_header: str | None = None
        self._trigger = ""
        if trigger is not None:
            if not isinstance(trigger, str) or not _TRIGGER_NAME.fullmatch(trigger):
                raise ValueError(f"trigger={trigger!r} must be a name of letters, digits, - or _")
            if viewer_token is None:
                raise ValueError("trigger needs viewer_token: anyone could profile otherwise")
            self._trigger = trigger
            self._trigger_header = "HTTP_" + trigger.upper().replace("-", "_")
        self._viewer: Viewer | None = None
        if viewer_path is not None:
            if viewer_token is None or self._dir is None or "html" not in self._formats:
                raise ValueError(
                    "viewer_path needs viewer_token, profile_dir and 'html' in formats"
                )
            self._viewer = Viewer(viewer_path, self._dir, viewer_token, tuple(FORMATS.values()))

        # Per request, only these: one optional trigger check, one flag, one optional draw.
        self._always = sample_rate >= 1.0
        self._rate = float(sample_rate)
        self._random = random.Random()  # noqa: S311 - sampling, not secrets
        self._draw = self._random.random if 0.0 < sample_rate < 1.0 else None
        os.register_at_fork(after_in_child=functools.partial(_reseed, weakref.ref(self._random)))
        self._count_lock = threading.Lock()
        self._last_base = ""
        #: Requests profiled so far (in this process).
        self.profiled = 0
        #: Requests chosen for profiling that ran unprofiled: another one held the profiler.
        self.skipped_busy = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._viewer is not None and self._viewer.claims(environ):
            return self._viewer(environ, start_response)
        # The trigger first, whatever sampling would choose: only _triggered() removes the
        # secret, and a request that sampling picks must not carry it on to the app and the log.
        if self._trigger_header is not None and self._triggered(environ):
            return self._profile(environ, start_response)
        if self._always or (self._draw is not None and self._draw() < self._rate):
            return self._profile(environ, start_response)
        return self.app(environ, start_response)

    # choosing ---------------------------------------------------------------------------------

    def _triggered(self, environ: WSGIEnvironment) -> bool:
        """Whether the trigger header or a trigger query parameter carries the token.

        If one does, every trigger header and parameter is removed: a request that carries the
        secret twice (a header and a bookmarked URL) must not take the other one on.
        """
        header = self._trigger_header or ""
        value = environ.get(header)
        triggered = value is not None and self._is_token(value)
        query = environ.get("QUERY_STRING", "")
        kept: list[str] | None = None
        if self._trigger in query:  # a cheap test before splitting the query
            kept = []
            for part in query.split("&"):
                name, _, raw = part.partition("=")
                if unquote_plus(name) != self._trigger:
                    kept.append(part)
                elif not triggered:
                    triggered = self._is_token(unquote_plus(raw))
        if not triggered:
            return False
        # The secret goes no further: the application and its logs never see it.
        environ.pop(header, None)
        if kept is not None:
            environ["QUERY_STRING"] = "&".join(kept)
        return True

    def _is_token(self, value: str) -> bool:
        return hmac.compare_digest(str(value).encode("utf-8", "surrogateescape"), self._token)

    def _profile(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not _PROFILER_SLOT.acquire(blocking=False):
            with self._count_lock:
                self.skipped_busy += 1
            return self.app(environ, start_response)
        try:
            responder = ProfiledResponse(environ, start_response, self.app, self._finish)
        except BaseException:
            _PROFILER_SLOT.release()
            raise
        return responder.profile_app()

    # writing ----------------------------------------------------------------------------------

    def _finish(self, r: ProfiledResponse) -> None:
        """Turn one request's profile into the summary and files (``end()``, exactly once)."""
        try:
            elapsed = (time.perf_counter() - r.started) * 1000.0
            buffer = io.StringIO()
            stats: pstats.Stats | None = pstats.Stats(r.profile, stream=buffer)
        except TypeError:  # nothing recorded: another tool held the profiler at every step
            stats = None
        finally:
            _PROFILER_SLOT.release()  # writing files need not keep other requests waiting
        with self._count_lock:
            if stats is None:
                self.skipped_busy += 1
                return
            self.profiled += 1
        environ = r.environ
        method = _text(str(environ.get("REQUEST_METHOD", "")))
        path = _text(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")))
        if self._stream is not None or self._dir is None:
            buffer.write(f"{'-' * 80}\n{method} {path!r} {elapsed:.1f} ms\n")
            stats.sort_stats(*self._sort_by).print_stats(*self._restrictions)
            out = self._stream if self._stream is not None else environ["wsgi.errors"]
            out.write(buffer.getvalue())  # one write: concurrent summaries do not interleave
        if self._dir is None:
            return
        meta: dict[str, object] = {
            "method": method,
            "path": path,
            "elapsed": round(elapsed, 3),
            "time": r.wall,
            "status": r.status,
        }
        base = self._base_name(environ, method, path, elapsed, r.wall)
        data: StatsDict = stats.stats  # type: ignore[attr-defined]  # not in typeshed
        try:
            payloads = render(self._formats, data, meta)
            # The default name repeats within a second: skip the one this process just used.
            taken, self._last_base = base == self._last_base, base
            write_new(self._dir, base, payloads, base_taken=taken)
        except OSError as exc:  # a full disk must not turn a served response into an error
            environ["wsgi.errors"].write(f"middlewares.profiler: profile not written: {exc}\n")

    def _base_name(
        self, environ: WSGIEnvironment, method: str, path: str, elapsed: float, wall: float
    ) -> str:
        fmt = self._filename_format
        if isinstance(fmt, str):
            name = fmt.format(
                method=file_part(method) or "_",
                path=file_part(path.strip("/").replace("/", ".")) or "root",
                elapsed=elapsed,
                time=wall,
            )
        else:
            environ["middlewares.profiler"] = {"elapsed": elapsed, "time": wall}
            name = str(fmt(environ))
        name = file_part(name.removesuffix(".prof")) or "profile"
        return name


def _strings(option: str, value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str | bytes):
        raise TypeError(f"{option} must be a tuple of strings, e.g. ({value!r},)")
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise TypeError(f"{option} must be a tuple of strings")
    return items
