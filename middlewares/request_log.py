"""RequestLogger: one access-log line per request, written when the response really ends."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar, copy_context
from random import getrandbits
from time import perf_counter_ns
from time import time as wall_time
from typing import TYPE_CHECKING

from middlewares._log_formats import (
    FIELDS,
    REDACTED_QUERY_PARAMS,
    Clock,
    escape,
    escape_text,
    is_clean,
    make_formatter,
    make_redactor,
)
from middlewares._log_records import RecordMaker
from middlewares._wsgi import (
    Headers,
    Observer,
    Responder,
    Watched,
    is_file_wrapper,
    set_header,
)

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "FIELDS",
    "REDACTED_QUERY_PARAMS",
    "RequestIdFilter",
    "RequestLogger",
    "current_request_id",
    "request_id_var",
]

#: The id of the request being served in this context, ``None`` outside a request.
#: :class:`RequestLogger` sets it while the application runs and while each chunk of its body
#: is produced, so the application's own log records can carry it.
request_id_var: ContextVar[str | None] = ContextVar("middlewares.request_id", default=None)

ENVIRON_KEY = "middlewares.request_id"

# A request id from the client is used only if it is short and made of characters that need
# no escaping anywhere (a header value, a log field, a URL): UUIDs, hex, base64, ULIDs, W3C ids.
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._~:@/+=-]{1,128}").fullmatch
# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+").fullmatch


def current_request_id() -> str | None:
    """The id of the request this code is running for, or ``None`` outside a request."""
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """A :class:`logging.Filter` that gives every record the current request id.

    Install it on the handlers that write the application's own logs, then use
    ``%(request_id)s`` in their format.  Records logged outside a request get ``default``;
    a record that already has the attribute (the access log's own) keeps it.

    Usage::

        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter("%(request_id)s %(levelname)s %(message)s"))

    :param attribute: the record attribute to set.
    :param default: the value outside a request.
    """

    def __init__(self, *, attribute: str = "request_id", default: str = "-") -> None:
        super().__init__()
        if not isinstance(attribute, str) or not attribute.isidentifier():
            raise ValueError(f"attribute={attribute!r} must be a Python identifier")
        self.attribute = attribute
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, self.attribute):
            setattr(record, self.attribute, request_id_var.get() or self.default)
        return True


class RequestLogger:
    """Log one line per request when its response ends: status, bytes really sent, duration.

    The line is written when the server closes the body (so streamed bodies are counted as they
    pass and the duration runs to ``close()``), when the client went away (``disconnected``), or
    when the application raised (``error`` with the exception type; the exception goes on to
    the server).  Every field is escaped, so no request can forge or break a line; credentials
    in query strings are redacted.

    Security: ``client_address`` is ``REMOTE_ADDR`` as this layer sees it; the logger never
    reads ``X-Forwarded-For``.  Put :class:`~middlewares.proxy_fix.ProxyFix` outside it to log
    the real client.  A client may choose its own request id (it is only used when
    well-formed), so do not treat the id as proof of anything.

    Usage::

        app = RequestLogger(app, format="json")
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    :param logger: a :class:`logging.Logger` or the name of one.  Each record carries the
        fields of :data:`FIELDS` as attributes, for any formatter to use.
    :param format: ``"combined"`` (Apache combined, then duration in ms, request id and
        outcome), ``"common"`` (NCSA), ``"json"`` (OpenTelemetry HTTP keys), or a format string
        with named fields, e.g. ``"{method} {path} {status} {duration_ms:.1f}"``.
    :param request_id_header: the request header that may carry the request id, echoed in the
        response; ``None`` to always generate ids and not echo them.
    :param level: the level of the access records (an int or a level name).
    :param redact_query_params: query parameter names whose values are logged as ``REDACTED``,
        in the query and in the Referer; an empty collection to log every value.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        logger: str | logging.Logger = "middlewares.access",
        format: str = "combined",
        request_id_header: str | None = "X-Request-ID",
        level: int | str = logging.INFO,
        redact_query_params: Iterable[str] = REDACTED_QUERY_PARAMS,
    ) -> None:
        self.app = app
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        if not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger or a name, not {logger!r}")
        self.logger = logger
        self.format = make_formatter(format)
        if request_id_header is not None and not (
            isinstance(request_id_header, str) and _TOKEN(request_id_header)
        ):
            raise ValueError(f"request_id_header={request_id_header!r} is not a header name")
        self.request_id_header = request_id_header
        self._id_key = (
            "HTTP_" + request_id_header.upper().replace("-", "_") if request_id_header else None
        )
        if isinstance(level, str):
            levels = logging.getLevelNamesMapping()
            if level.upper() not in levels:
                raise ValueError(f"level={level!r} is not a logging level name")
            level = levels[level.upper()]
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"level must be an int or a level name, not {level!r}")
        self.level = level
        if isinstance(redact_query_params, str) or not isinstance(redact_query_params, Iterable):
            raise TypeError("redact_query_params must be a collection of parameter names")
        # Read once: a generator checked here would be empty by the time the redactor is built.
        names = tuple(redact_query_params)
        if not all(isinstance(name, str) for name in names):
            raise TypeError("redact_query_params must be a collection of parameter names")
        self._redact = make_redactor(names)
        self._clock = Clock()
        self._records = RecordMaker(logger, level, __file__, FIELDS)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = wall_time()
        started_ns = perf_counter_ns()
        # An outer RequestLogger (or a Dispatcher mounting logged apps) already chose the id.
        rid = environ.get(ENVIRON_KEY)
        if rid is None:
            rid = environ.get(self._id_key) if self._id_key else None
            if rid is None or not _WELL_FORMED_ID(rid):
                # 128 random bits from the random module, which reseeds itself in a forked
                # child.  Ids are not secrets (a client may choose its own), so the
                # os.urandom() syscall buys nothing here.
                rid = getrandbits(128).to_bytes(16, "big").hex()  # 32 hex digits
            environ[ENVIRON_KEY] = rid
        r = _Logged(self, environ, start_response, rid, started, started_ns)
        token = request_id_var.set(rid)
        try:
            body = self.app(environ, r.start_response)
        except BaseException as exc:
            r.error = exc
            r._end()
            raise
        finally:
            request_id_var.reset(token)
        return r.adopt(body)

    def _write(self, r: _Logged) -> None:
        """Build the fields of the ended response ``r`` and log its line."""
        if not self.logger.isEnabledFor(self.level):
            return
        duration = (perf_counter_ns() - r.started_ns) / 1e6
        get = r.environ.get
        client = get("REMOTE_ADDR") or ""
        user = get("REMOTE_USER") or ""
        method = get("REQUEST_METHOD") or ""
        path = get("SCRIPT_NAME", "") + get("PATH_INFO", "")
        query = get("QUERY_STRING") or ""
        scheme = get("wsgi.url_scheme") or ""
        protocol = get("SERVER_PROTOCOL") or ""
        referer = get("HTTP_REFERER") or ""
        agent = get("HTTP_USER_AGENT") or ""
        if query:
            query = self._redact(query)
        if "?" in referer:
            base, _, rest = referer.partition("?")
            referer = base + "?" + self._redact(rest)
        # One test for the usual case, nothing to escape; else each field is escaped.
        raw = (client, user, method, path, query, scheme, protocol, referer, agent)
        if not is_clean("".join(raw)):
            client, user, method, path, query, scheme, protocol, referer, agent = map(escape, raw)
        code = r.status[:3]
        status = int(code) if code.isascii() and code.isdigit() else 0  # isdigit() takes "²"
        error_type = ""
        if r.error is not None:
            outcome = "error"
            error_type = escape_text(type(r.error).__qualname__)
            if r.bytes_sent == 0 and not (r.completed and r.status):
                # Nothing went out and the body did not run to its end (or no response was
                # started): the server answers 500 (PEP 3333, "Error Handling").  A started body
                # that ran to its end had its status sent with the (empty) body before close()
                # raised: a 204, a 304 or a redirect reached the client as it was.
                status = 500
        elif r.completed:
            outcome = "completed"
        else:
            outcome = "disconnected"
        fields = self._records.blank()
        fields["timestamp"], fields["clf_time"] = self._clock.stamps(r.started)
        fields["client_address"] = client
        fields["remote_user"] = user
        fields["method"] = method
        fields["path"] = path
        fields["query"] = query
        fields["scheme"] = scheme
        fields["protocol"] = protocol
        fields["status"] = status
        fields["size"] = r.bytes_sent
        fields["referer"] = referer
        fields["user_agent"] = agent
        fields["duration_ms"] = duration
        fields["request_id"] = r.request_id
        fields["outcome"] = outcome
        fields["error_type"] = error_type
        # Logger.handle() instead of Logger.log(): the caller's frame would be the server's,
        # so findCaller's stack walk would cost time and tell nothing.  Filters, handlers and
        # a custom record factory or makeRecord still apply (see _log_records).
        self.logger.handle(self._records.make(self.format(fields), fields))


class _Logged(Observer):
    """One logged response: echoes the request id, writes the line in :meth:`end`."""

    def __init__(
        self,
        owner: RequestLogger,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        rid: str,
        started: float,
        started_ns: int,
    ) -> None:
        self.owner = owner
        self.environ = environ
        self._server_start = start_response
        self.request_id = rid
        self.started = started
        self.started_ns = started_ns

    def start(self, status: str, headers: Headers, body: Iterable[bytes] | None) -> str:
        name = self.owner.request_id_header
        if name:
            set_header(headers, name, self.request_id)
        return status

    def stream(self, body: Iterable[bytes]) -> Iterable[bytes]:
        if _runs_no_app_code(body, self.environ):
            return Watched(self, body)
        # The body's own context: a copy of the server's with the id set.  Every step of the
        # body, and its close() before the line is written, runs in it: what the application
        # sets there stays there, never in the server's thread.  Threads the application
        # starts do not inherit it unless it copies the context.
        context = copy_context()
        context.run(request_id_var.set, self.request_id)
        return Watched(self, body, context.run)

    def end(self) -> None:
        self.owner._write(self)


def _runs_no_app_code(body: Iterable[bytes], environ: WSGIEnvironment) -> bool:
    """Whether iterating and closing ``body`` surely runs no code of the application's.

    True for a tuple, the server's file wrapper, and a body of an inner middleware of ours
    around such a body (e.g. CORS or Compress around a list): only middleware code runs then.
    """
    return Responder.runs_no_app_code(body) or is_file_wrapper(body, environ)
