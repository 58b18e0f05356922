"""The one shared WSGI core: types, header helpers, response interception, end-of-response hooks.

Every middleware that looks at a response goes through :class:`Responder`; none writes its own
``start_response`` wrapper or closing iterator.  The rules it enforces come from PEP 3333:

* ``close()`` of the wrapped application's iterable is called exactly once, on every path: the
  body ran out, the body raised, the middleware raised, or the server closed early because the
  client went away ("If the iterable returned by the application has a close() method, the
  server or gateway must call that method upon completion of the current request, whether the
  request was completed normally, or terminated early due to an application error").
* Nothing here buffers a body: each chunk the application yields is passed on before the next one
  is asked for ("Middleware Handling of Block Boundaries").
* When a middleware leaves the body alone and the application returned the server's own
  ``wsgi.file_wrapper``, the server gets back an instance of that same class, so its sendfile (or
  waitress's file buffer) path still runs; see :meth:`Responder.wrap_file`.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ExcInfo",
    "Headers",
    "Observer",
    "Responder",
    "Settler",
    "Watched",
    "WriteCallable",
    "add_vary",
    "choose_encoding",
    "get_header",
    "import_string",
    "intercept",
    "is_file_wrapper",
    "known_chunks",
    "merge_header_list",
    "merge_token",
    "parse_content_length",
    "remove_header",
    "set_header",
]

Headers = list[tuple[str, str]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
WriteCallable = Callable[[bytes], object]


# --- header lists ----------------------------------------------------------------------------
# Header names are case-insensitive (RFC 9110 section 5.1); values are left as the app wrote them.


def get_header(headers: Headers, name: str) -> str | None:
    """The value of the first header called ``name`` (any case), or ``None``."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def remove_header(headers: Headers, name: str) -> None:
    """Remove every header called ``name`` (any case), in place."""
    name = name.lower()
    headers[:] = [item for item in headers if item[0].lower() != name]


def set_header(headers: Headers, name: str, value: str) -> None:
    """Replace every header called ``name`` by one ``name: value``, in place."""
    size = len(name)
    lname = name.lower()
    for key, _ in headers:  # usually absent: look before rebuilding the list
        if len(key) == size and key.lower() == lname:
            remove_header(headers, name)
            break
    headers.append((name, value))


def _tokens(value: str) -> list[str]:
    return [token for token in (part.strip() for part in value.split(",")) if token]


@functools.lru_cache(maxsize=256)
def merge_token(line: str, member: str) -> str | None:
    """The list header line ``line`` with ``member`` added (``line`` itself if it has it).

    ``None`` when either is not one plain token (a list, a blank, ``*``): use
    :func:`merge_header_list` then.  Cached: a response's list headers take few distinct
    values (the app's ``Vary: Accept-Encoding``, then ``Origin`` added by CORS), and the
    checks cost more than a cache lookup.
    """
    for part in (line, member):
        if not part or part == "*" or "," in part or part.strip() != part:
            return None
    return line if line.lower() == member.lower() else f"{line}, {member}"


def merge_header_list(headers: Headers, name: str, *values: str) -> None:
    """Merge comma-list tokens into header ``name`` without duplicates, in place.

    RFC 9110 section 5.3 lets a list header be split over several lines; they are folded into
    one line here.  Tokens compare case-insensitively and keep the spelling first seen.  For
    ``Vary``, ``*`` absorbs every other member (RFC 9110 section 12.5.5: "*" signals that
    anything about the request might play a role), so the result is plain ``*``.
    """
    lname = name.lower()
    size = len(name)
    first = -1
    many = False
    for index, (key, _) in enumerate(headers):  # a loop: a comprehension is a function call
        if len(key) == size and key.lower() == lname:
            if first >= 0:
                many = True
                break
            first = index
    if not many and len(values) == 1:
        # The hottest cases (Compress's and CORS's Vary): one plain member, added to no line
        # or to a line of one plain member.  Lists, blanks and "*" take the general path.
        member = values[0]
        if first < 0:
            if member and member != "*" and "," not in member and member.strip() == member:
                headers.append((name, member))
                return
        else:
            key, line = headers[first]
            one = merge_token(line, member)
            if one is not None:
                if one is not line:
                    headers[first] = (key, one)
                return
    if many:
        found = [index for index, (key, _) in enumerate(headers) if key.lower() == lname]
    else:
        found = [first] if first >= 0 else []
    # No line yet, or one: merge the members into it.
    if not found or len(found) == 1:
        seen: set[str] = set()
        merged: list[str] = []
        for value in (headers[found[0]][1], *values) if found else values:
            for token in _tokens(value):
                lowered = token.lower()
                if lowered not in seen:
                    seen.add(lowered)
                    merged.append(token)
        if not merged:
            return
        if lname == "vary" and "*" in seen:
            merged = ["*"]
        line = ", ".join(merged)
        if not found:
            headers.append((name, line))
        elif line != headers[found[0]][1]:
            headers[found[0]] = (headers[found[0]][0], line)
        return
    first = found[0]
    folded = ", ".join(headers[index][1] for index in found)
    if not _tokens(", ".join((folded, *values))):
        return  # lines of blanks only, and nothing to add: leave them be
    headers[:] = [
        item for index, item in enumerate(headers) if index == first or index not in found
    ]
    headers[first] = (headers[first][0], folded)
    merge_header_list(headers, name, *values)


def add_vary(headers: Headers, *fields: str) -> None:
    """Merge ``fields`` into the response's ``Vary`` header (see :func:`merge_header_list`)."""
    merge_header_list(headers, "Vary", *fields)


# --- "module:attribute" names -----------------------------------------------------------------


def import_string(spec: str) -> Any:
    """The object named ``"package.module:attribute"`` (the attribute may be dotted).

    Config files and Dispatcher mounts name apps this way (gunicorn's and PasteDeploy's form).

    :raises ValueError: not of that form, or the import failed; the message names ``spec`` and
        the underlying error (the module's own import errors included), never a bare traceback.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f'expected "module:attribute", got {spec!r}')
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:  # a module's own import-time errors too: say which
        raise ValueError(f"cannot import {spec!r}: {type(exc).__name__}: {exc}") from exc
    return target


# A Content-Length of more digits than this is absurd (no body reaches 10**18 bytes), and int()
# refuses strings of more than 4300 digits (CPython's limit on int-string conversion).
_MAX_LENGTH_DIGITS = 18


def parse_content_length(value: str | None) -> int | None:
    """The length a ``Content-Length`` value gives, or ``None``: absent, not a length, absurd.

    RFC 9110 section 8.6: ``1*DIGIT``; whitespace around it is tolerated.  ``str.isdigit()``
    alone would take "²", which ``int()`` refuses; leading zeros are allowed.
    """
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
    if len(value) > _MAX_LENGTH_DIGITS:
        value = value.lstrip("0") or "0"
        if len(value) > _MAX_LENGTH_DIGITS:
            return None
    return int(value)


def is_file_wrapper(body: object, environ: WSGIEnvironment) -> bool:
    """Whether ``body`` is an instance of the server's ``wsgi.file_wrapper`` (sendfile's way).

    PEP 3333 makes ``wsgi.file_wrapper`` optional and lets it be any callable; only a class
    can be recognised afterwards.
    """
    wrapper = environ.get("wsgi.file_wrapper")
    return isinstance(wrapper, type) and isinstance(body, wrapper)


def known_chunks(body: object) -> list[bytes] | tuple[bytes, ...] | None:
    """The list or tuple of chunks ``body`` will give, when that is known already, else ``None``.

    ``body`` itself when it is one, or the one inside middlewares of ours that pass it on
    unchanged (a :class:`Responder` that does not filter, an :class:`Observer`): a middleware
    outside them (Compress giving a list an exact ``Content-Length``) sees what the
    application returned.
    """
    while True:
        kind = type(body)
        if kind is list or kind is tuple:
            return body  # type: ignore[return-value]
        if kind is _Body:
            r = body._r  # type: ignore[attr-defined]
            if r.filters_body or r._pending:
                return None
            body = body._body  # type: ignore[attr-defined]
        elif kind is _Listed:
            body = body._body  # type: ignore[attr-defined]
        else:
            return None


# --- content negotiation ---------------------------------------------------------------------


def _qvalue(params: list[str]) -> float | None:
    """The ``q`` weight of one list member (RFC 9110 section 12.4.2), ``None`` if malformed."""
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            value = value.strip()
            # qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
            if not value or len(value) > 5 or value[0] not in "01":
                return None
            try:
                q = float(value)
            except ValueError:
                return None
            return q if 0.0 <= q <= 1.0 else None
    return 1.0


@functools.lru_cache(maxsize=512)
def choose_encoding(accept_encoding: str | None, offered: tuple[str, ...]) -> str | None:
    """The content coding to use from ``offered`` (server preference order), or ``None`` (identity).

    RFC 9110 section 12.5.3: codings compare case-insensitively; ``q=0`` means "not acceptable"
    (so ``gzip;q=0`` never gets gzip); ``*`` stands for every coding not named; among equal
    weights the server's order wins.  ``identity`` takes part when the client weighs it, by
    name or through ``*``: ``gzip;q=0.5, identity`` gets identity (rule 4 of that section:
    the highest weight wins); a coding weighed the same as identity wins.  A request without
    the header gets identity: the RFC lets a server pick any coding then, but clients that omit
    it are the ones that cannot decode.  A malformed member (a bad ``q``) is ignored, not an
    error.  Results are cached per header value (bounded), since browsers send a handful of
    distinct values.
    """
    if not accept_encoding:
        return None
    weights: dict[str, float] = {}
    for member in accept_encoding.split(","):
        coding, *params = member.split(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = _qvalue(params)
        if q is not None and coding not in weights:
            weights[coding] = q
    star = weights.get("*", 0.0)
    best: str | None = None
    best_q = 0.0
    for coding in offered:
        q = weights.get(coding.lower(), star)
        if q > best_q:
            best, best_q = coding, q
    # Identity not weighed (neither named nor covered by "*") states no preference: any
    # acceptable coding beats it.
    if best is not None and best_q < weights.get("identity", star):
        return None
    return best


# --- response interception -------------------------------------------------------------------


class Responder:
    """One response passing through a middleware: subclass it, override the hooks, call :meth:`run`.

    A middleware's ``__call__`` creates one responder per request and returns
    ``responder.run(self.app)``.  The responder hands the application its own ``start_response``
    and ``write()``; it passes the response on to the server when the application has returned
    its body (or calls ``write()``, or yields its first chunk, whichever comes first), after the
    :meth:`start` hook has seen and possibly changed the status and headers.  Deferring to that
    moment lets :meth:`start` look at the body object: a list of one chunk can be given an exact
    ``Content-Length``.  PEP 3333 allows this: the server may not send headers before the first
    non-empty chunk anyway, and ``start_response`` is always called before that chunk goes on.

    Hooks, all optional:

    * :meth:`start`: called with the status, a copy of the headers (a list the hook may change in
      place) and the body (``None`` when not yet known); returns the status to send.  Set
      :attr:`filters_body` there to have :meth:`filter` and :meth:`finish` applied.
    * :meth:`filter`: maps each chunk (also those written with ``write()``) to the chunk to pass
      on; may return ``b""`` (an empty chunk still goes on, so iteration never blocks).
    * :meth:`finish`: the bytes to send after the last chunk.
    * :meth:`end`: called exactly once when the response really ends (the server closed the
      body, or the application raised).  :attr:`bytes_sent`, :attr:`completed` and
      :attr:`error` say how it ended.  Exceptions from ``end`` are not swallowed.

    When :attr:`filters_body` is false and the application returned an instance of the server's
    ``wsgi.file_wrapper``, the server gets a new instance of that class around the same file
    (see :meth:`wrap_file`): sendfile keeps working and :meth:`end` still runs when the server
    closes it, with :attr:`bytes_sent` taken from the file's size.
    """

    #: Set to ``False`` in a subclass that never needs :meth:`end`: when the body is not
    #: filtered and the response has started by the time the application returns, the
    #: application's own iterable then goes to the server untouched (zero cost per chunk).
    watch_end = True

    #: Set to ``True`` in a subclass whose :meth:`start` needs to know an empty stream: when the
    #: application started the response before returning an iterable that is neither a list,
    #: a tuple nor the server's file wrapper, the response is then passed on at its first chunk
    #: (``body=None``) or at its end (``body=()``, nothing came), not when the body is returned.
    waits_for_a_chunk = False

    # Per-request state.  Defaults live on the class, so a request only pays for what it
    # changes (a Responder is created for every request; most of these are never written).
    status: str = ""
    filters_body: bool = False
    bytes_sent: int = 0
    completed: bool = False
    error: BaseException | None = None
    _server_write: WriteCallable | None = None
    _pending: bool = False
    _ended: bool = False
    _exc_info: ExcInfo | None = None
    _body_close: Callable[[], object] | None = None

    def __init__(self, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self.environ = environ
        self._server_start = start_response
        self.headers: Headers = []  # per instance: a hook may change it in place

    # hooks ------------------------------------------------------------------------------------

    def start(self, status: str, headers: Headers, body: Iterable[bytes] | None) -> str:
        """See or change the status and headers before they go to the server."""
        return status

    def filter(self, chunk: bytes) -> bytes:
        """Transform one chunk of the body (only when :attr:`filters_body` is set)."""
        return chunk

    def finish(self) -> bytes:
        """Bytes to send after the body's last chunk (only when :attr:`filters_body` is set)."""
        return b""

    def end(self) -> None:
        """The response has ended; see :attr:`bytes_sent`, :attr:`completed`, :attr:`error`."""

    # the application's side -------------------------------------------------------------------

    def start_response(
        self, status: str, headers: Headers, exc_info: ExcInfo | None = None
    ) -> WriteCallable:
        """The ``start_response`` the wrapped application sees."""
        if exc_info is not None and exc_info[0] is None:
            exc_info = None  # sys.exc_info() outside a handler: no error (PEP 3333)
        if exc_info is None and not self._pending and self._server_write is None:
            self.status = status
            self.headers = list(headers)  # the app may reuse its list; never change it in place
            self._pending = True
            return self.write
        if exc_info is None:
            raise RuntimeError("start_response called a second time without exc_info (PEP 3333)")
        sent = self.status, self.headers
        self.status = status
        self.headers = list(headers)
        self._exc_info = exc_info
        if self._server_write is None:  # nothing passed on yet: the new response replaces it
            self._pending = True
            return self.write
        # Already passed on: the server decides.  It re-raises exc_info if it has sent the
        # headers (PEP 3333), else it takes the new status and headers, which our hook sees
        # first.  A middleware that changes the body starts over on the error page.
        try:
            self._commit(None)
        except BaseException:
            # The server refused: what the client got is still the first response, and that
            # is what end() must see (an access log must not claim the 500).
            self.status, self.headers = sent
            raise
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable (PEP 3333), passed through :meth:`filter`."""
        if self._pending:
            self._commit(None)
        if self._server_write is None:
            raise RuntimeError("write() called before start_response (PEP 3333)")
        if self.filters_body:
            data = self.filter(data)
        if data:
            self.bytes_sent += len(data)
            self._server_write(data)

    def _commit(self, body: Iterable[bytes] | None) -> None:
        self._pending = False
        if self.filters_body:  # a restart with exc_info: the hook decides afresh
            self.filters_body = False
        status = self.status = self.start(self.status, self.headers, body)
        if self._exc_info is None:
            self._server_write = self._server_start(status, self.headers)
        else:
            exc_info, self._exc_info = self._exc_info, None
            self._server_write = self._server_start(status, self.headers, exc_info)

    # running ----------------------------------------------------------------------------------

    def run(self, app: WSGIApplication) -> Iterable[bytes]:
        """Call ``app`` and return the iterable to hand to the server."""
        try:
            body = app(self.environ, self.start_response)
        except BaseException as exc:
            self.error = exc
            self._end()
            raise
        return self.adopt(body)

    def adopt(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """Take over ``body``, just returned by the application: the iterable for the server."""
        try:
            if self._pending:
                if self.waits_for_a_chunk and self._streams(body):
                    self._body_close = getattr(body, "close", None)
                    return _Body(self, body)  # committed at its first chunk or at its end
                if self._exc_info is None and not self.filters_body:
                    # _commit(body), inlined for the usual first start: one call less.
                    self._pending = False
                    headers = self.headers
                    status = self.status = self.start(self.status, headers, body)
                    self._server_write = self._server_start(status, headers)
                    if not self.filters_body and not self.watch_end:
                        return body  # the server closes it: nothing of ours runs at the end
                else:
                    self._commit(body)
            if self._server_write is not None and not self.filters_body:
                if not self.watch_end:
                    return body
                if type(body) is not list:  # a list is never the server's file wrapper
                    wrapped = self.wrap_file(body)
                    if wrapped is not None:
                        return wrapped
        except BaseException as exc:
            self.error = exc
            self._body_close = getattr(body, "close", None)
            self._close_body()
            raise
        self._body_close = getattr(body, "close", None)
        return _Body(self, body)

    def _streams(self, body: Iterable[bytes]) -> bool:
        """Whether ``body`` is a stream: neither a list, a tuple nor the server's file wrapper."""
        return known_chunks(body) is None and not is_file_wrapper(body, self.environ)

    @staticmethod
    def runs_no_app_code(body: object) -> bool:
        """Whether ``body`` is a list or tuple, or what :meth:`run` returned around one.

        Iterating and closing such a body (at any depth of middlewares) runs middleware hooks
        only, never the application's code: a middleware that sets context for the
        application's code can skip doing so.
        """
        while True:
            kind = type(body)
            if kind is _Body or kind is Watched:
                body = body._body  # type: ignore[attr-defined]
            elif kind is _Listed:
                return True
            else:  # a subclass of list may close() with code of the application's
                return kind is list or kind is tuple

    def wrap_file(self, body: Iterable[bytes]) -> Iterable[bytes] | None:
        """Re-wrap a ``wsgi.file_wrapper`` body so the server still recognises it, or ``None``.

        The server's wrapper class (wsgiref's and gunicorn's ``FileWrapper`` keep the file as
        ``filelike``/``blksize``, waitress's ``ReadOnlyFileBasedBuffer`` as ``file``/
        ``block_size``) is called again around a thin proxy of the same file object.  The proxy
        passes ``fileno``, ``read``, ``seek`` and ``tell`` through, so sendfile runs as before;
        its ``close()`` calls the original wrapper's ``close()`` once and then :meth:`end`.
        """
        if not is_file_wrapper(body, self.environ):
            return None
        filelike = getattr(body, "filelike", None) or getattr(body, "file", None)
        blksize = getattr(body, "blksize", None) or getattr(body, "block_size", None) or 8192
        if filelike is None:
            return None
        self.bytes_sent = _remaining(filelike, get_header(self.headers, "Content-Length"))
        self._body_close = getattr(body, "close", None)
        wrapper = self.environ["wsgi.file_wrapper"]
        wrapped: Iterable[bytes] = wrapper(_EndingFile(filelike, self), blksize)
        return wrapped

    def _close_body(self) -> None:
        """Close the app's body once, then run :meth:`end` once, whatever either raises."""
        close, self._body_close = self._body_close, None
        try:
            if close is not None:
                close()
        except BaseException as exc:
            if self.error is None:
                self.error = exc
            raise
        finally:
            try:
                if self._pending and self.error is None:
                    # Closed before its first chunk (the client went away), after the app
                    # started the response: a layer that waits for a chunk (see
                    # waits_for_a_chunk), ours or one inside, had not passed it on.  The
                    # layers outside learn its status and headers all the same.
                    self._commit(None)
            finally:
                self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self.end()


class Observer(Responder):
    """A responder for a middleware that watches responses and never changes a body (a logger).

    It defers nothing: the application's ``start_response`` goes to the server at once, after
    :meth:`~Responder.start` (called with ``body=None``) has seen the status and a copy of the
    headers, which it may change in place; ``write()`` is the server's own, counted.  Then
    :meth:`adopt` hands the server the thinnest iterable that still tells :attr:`bytes_sent`,
    :attr:`completed` and :attr:`error` by the time :meth:`~Responder.end` runs (exactly once):

    * a list or tuple goes as the list's own iterator (no code of ours per chunk); at
      ``close()`` the iterator's length hint tells how many chunks the server took;
    * the server's file wrapper is re-wrapped as in :meth:`~Responder.wrap_file` (sendfile kept);
    * any other body goes through :meth:`stream`: a generator counting the chunks as they pass.

    :meth:`~Responder.filter` and :meth:`~Responder.finish` are not used.
    """

    def __init__(self, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self.environ = environ
        self._server_start = start_response

    def start_response(
        self, status: str, headers: Headers, exc_info: ExcInfo | None = None
    ) -> WriteCallable:
        """Pass the response on at once, as the :meth:`~Responder.start` hook leaves it."""
        if self._server_write is not None and (not exc_info or exc_info[0] is None):
            raise RuntimeError("start_response called a second time without exc_info (PEP 3333)")
        headers = list(headers)  # the hook may change it: never the application's list
        status = self.start(status, headers, None)
        if exc_info is None:
            self._server_write = self._server_start(status, headers)
        else:
            # The server re-raises when the first headers went out already; then the client
            # got the first response, and that is what end() must see.
            self._server_write = self._server_start(status, headers, exc_info)
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: the server's, counting the bytes."""
        if self._server_write is None:
            raise RuntimeError("write() called before start_response (PEP 3333)")
        self._server_write(data)
        self.bytes_sent += len(data)

    def adopt(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """The iterable for the server: ``body``, just returned by the application, watched."""
        kind = type(body)
        if kind is list or kind is tuple:
            return _Listed(self, body)  # type: ignore[arg-type]
        self._body_close = getattr(body, "close", None)
        try:
            if self._server_write is not None:
                wrapped = self.wrap_file(body)
                if wrapped is not None:
                    return wrapped
            return self.stream(body)
        except BaseException as exc:  # the body is ours to close, and the response ended
            self.error = exc
            self._close_body()
            raise

    def stream(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """The iterable for any other body: a :class:`Watched`.

        Override to return ``Watched(self, body, run)`` with a ``run`` of yours (a context's
        ``run``) to have each step of the body run through it.
        """
        return Watched(self, body)


class _Listed:
    """A list body for the server: the list's own iterator; at close, what the server took."""

    __slots__ = ("_body", "_it", "_r")

    def __init__(self, r: Observer, body: list[bytes] | tuple[bytes, ...]) -> None:
        self._r = r
        self._body = body
        self._it: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        it = self._it = iter(self._body)
        return it

    def close(self) -> None:
        r = self._r
        if r._ended:
            return
        body, it = self._body, self._it
        if it is not None:
            left: int = it.__length_hint__()  # type: ignore[attr-defined]
            r.bytes_sent += sum(map(len, body[: len(body) - left] if left else body))
            r.completed = not left
        r._end()


class Watched:
    """Any other body for the server (see :meth:`Observer.stream`): counted, closed once.

    With ``run`` (e.g. a :class:`contextvars.Context`'s ``run``), every step of the body, its
    ``iter()``, each ``next()`` and its ``close()``, is called through it: the application's
    code between chunks runs in the context of the caller's choosing.
    """

    __slots__ = ("_body", "_r", "_run")

    def __init__(
        self, r: Observer, body: Iterable[bytes], run: Callable[..., Any] | None = None
    ) -> None:
        self._r = r
        self._body = body
        self._run = run
        if run is not None and r._body_close is not None:
            r._body_close = functools.partial(run, r._body_close)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks(self._r, self._body, self._run)

    @staticmethod
    def _chunks(
        r: Observer, body: Iterable[bytes], run: Callable[..., Any] | None
    ) -> Iterator[bytes]:
        # A generator: resuming it costs less than a __next__ method call per chunk.
        try:
            if run is None:
                for chunk in body:
                    r.bytes_sent += len(chunk)
                    yield chunk
            else:
                chunks = run(iter, body)
                while True:
                    try:
                        chunk = run(next, chunks)
                    except StopIteration:
                        break
                    r.bytes_sent += len(chunk)
                    yield chunk
        except GeneratorExit:  # the server stopped iterating (client gone): not an error
            raise
        except BaseException as exc:
            r.error = exc
            raise
        r.completed = True

    def close(self) -> None:
        if not self._r._ended:
            self._r._close_body()


class Settler(Protocol):
    """A middleware that :func:`intercept` runs: see there."""

    def settle(self, status: str, headers: Headers, final: bool) -> Headers | None: ...

    def responder(self, environ: WSGIEnvironment, start_response: StartResponse) -> Responder: ...


def intercept(
    owner: Settler,
    app: WSGIApplication,
    environ: WSGIEnvironment,
    start_response: StartResponse,
) -> Iterable[bytes]:
    """Run ``app`` for a middleware that can usually decide from the status and headers alone.

    At the application's ``start_response``, ``owner.settle(status, headers, final)`` returns
    the headers to pass on at once (a new list when it changes any: the application's list is
    never changed in place), or ``None`` when the decision needs the body.  A settled response
    goes to the server at once, and the server gets the application's own iterable back,
    untouched: no deferral, nothing of ours per chunk, the server's file wrapper kept.

    Otherwise ``owner.responder(environ, start_response)`` makes a :class:`Responder` that takes
    the response over from that call, as if it had run the application itself (its
    :meth:`~Responder.start` decides with the body at hand).  The same happens when the
    application returns before calling ``start_response`` (a generator calls it when first
    iterated).  ``final`` is true when a settled response was already passed on and the
    application restarts with ``exc_info``: ``settle`` must return headers then, since the
    application may still write through the server's own ``write``.  The PEP 3333 rules
    :meth:`Responder.start_response` enforces hold here too.
    """
    taken: Responder | None = None
    passed = False

    def settling_start_response(
        status: str, headers: Headers, exc_info: ExcInfo | None = None
    ) -> WriteCallable:
        nonlocal taken, passed
        if taken is not None:
            return taken.start_response(status, headers, exc_info)
        if passed and (not exc_info or exc_info[0] is None):
            raise RuntimeError("start_response called a second time without exc_info (PEP 3333)")
        now = owner.settle(status, headers, passed)
        if now is None:
            taken = owner.responder(environ, start_response)
            return taken.start_response(status, headers, exc_info)
        passed = True
        if exc_info is None:
            return start_response(status, now)
        return start_response(status, now, exc_info)

    try:
        body = app(environ, settling_start_response)
    except BaseException as exc:
        if taken is not None:
            taken.error = exc
            taken._end()
        raise
    if taken is None:
        if passed:
            return body
        taken = owner.responder(environ, start_response)
    return taken.adopt(body)


def _remaining(filelike: Any, content_length: str | None) -> int:
    """Bytes a file wrapper will send: from the file's position to its end, capped by the length."""
    try:
        try:
            size = os.fstat(filelike.fileno()).st_size - filelike.tell()
        except (AttributeError, OSError, ValueError):  # no real file descriptor: ask the object
            here = filelike.tell()
            size = filelike.seek(0, os.SEEK_END) - here
            filelike.seek(here)
    except (AttributeError, OSError, ValueError):
        size = -1
    size = int(size)
    length = parse_content_length(content_length)
    if length is not None:
        return length if size < 0 else min(size, length)
    return max(size, 0)


class _EndingFile:
    """A file proxy whose ``close()`` closes the original wrapper once, then ends the response.

    A server that reads the file (wsgiref, gunicorn without sendfile, waitress) does so through
    :meth:`read`: a read that raises is the response's error, and a server that stops reading
    before the end (the client went away) leaves the response not completed, with the bytes
    read as those sent.  A server that never reads (sendfile) is opaque: the whole file counts.
    """

    __slots__ = ("_file", "_read", "_responder")

    def __init__(self, filelike: IO[bytes], responder: Responder) -> None:
        self._file = filelike
        self._responder = responder
        self._read = -1  # bytes read through read(); -1 while the server never called it

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def read(self, *args: Any) -> bytes:
        try:
            data: bytes = self._file.read(*args)
        except BaseException as exc:
            self._responder.error = exc
            self._read = max(self._read, 0)
            raise
        self._read = max(self._read, 0) + len(data or b"")
        return data

    def close(self) -> None:
        r = self._responder
        if 0 <= self._read < r.bytes_sent:
            r.bytes_sent = self._read
        elif r.error is None:  # a read that raised ended nothing, even of an empty file
            r.completed = True
        r._close_body()


class _Body:
    """The iterable handed to the server: filters chunks, closes the app's body exactly once.

    Iteration is a generator (resuming one is cheaper than a Python ``__next__`` per chunk);
    ``close()`` is this object's, so it runs once whether or not the generator finished.
    """

    __slots__ = ("_body", "_closed", "_r")

    def __init__(self, responder: Responder, body: Iterable[bytes]) -> None:
        self._r = responder
        self._body = body
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks(self._r, self._body)

    @staticmethod
    def _chunks(r: Responder, body: Iterable[bytes]) -> Iterator[bytes]:
        try:
            for chunk in body:
                if r._pending:
                    r._commit(None)
                if r.filters_body:
                    chunk = r.filter(chunk)
                r.bytes_sent += len(chunk)
                yield chunk  # also an empty chunk: iteration never blocks (PEP 3333)
            if r._pending:
                r._commit(())  # the body ended before its first chunk: start() sees it empty
            if r.filters_body:
                tail = r.finish()
                if tail:
                    r.bytes_sent += len(tail)
                    yield tail
            r.completed = True
        except GeneratorExit:  # the server stopped iterating (client gone): not an error
            raise
        except BaseException as exc:
            r.error = exc
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._r._close_body()
