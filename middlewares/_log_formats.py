"""The access-log formats of :class:`~middlewares.request_log.RequestLogger`, and their escaping.

Every field that comes from the request is escaped before any format sees it, so one rule
holds for every format: control characters (C0, DEL, C1), ``"``, ``\\`` and any other
non-printable character are written as ``\\xhh`` (``\\uhhhh`` above U+00FF), and bytes that are
not valid UTF-8 are written as ``\\xhh`` too.  No request can forge a second line, break a
quoted field, or drive a terminal with ANSI escapes.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

__all__ = [
    "FIELDS",
    "REDACTED_QUERY_PARAMS",
    "Clock",
    "escape",
    "escape_text",
    "is_clean",
    "make_formatter",
    "make_redactor",
]

#: The named fields of a log line: the ``extra`` attributes of every access record, and the
#: names a custom ``format`` string may use (``"{method} {path} {status} {duration_ms:.1f}"``).
#: Text fields are already escaped; a missing one is ``""``.
FIELDS: dict[str, str] = {
    "timestamp": "request start, ISO 8601 with milliseconds and offset",
    "clf_time": "request start, Common Log Format (10/Oct/2000:13:55:36 -0700)",
    "client_address": "REMOTE_ADDR as the stack sees it",
    "remote_user": "REMOTE_USER",
    "method": "REQUEST_METHOD",
    "path": "SCRIPT_NAME + PATH_INFO",
    "query": "QUERY_STRING, credentials redacted",
    "scheme": "wsgi.url_scheme",
    "protocol": "SERVER_PROTOCOL (HTTP/1.1)",
    "status": "the status code sent (int); 500 when the app raised before its response went out",
    "size": "body bytes actually sent (int)",
    "referer": "the Referer header, credentials in its query redacted",
    "user_agent": "the User-Agent header",
    "duration_ms": "milliseconds from the request's start to the body's close() (float)",
    "request_id": "the request id",
    "outcome": "completed, disconnected (the server closed early) or error",
    "error_type": "the exception's class name when outcome is error",
}

#: Query parameters whose values are replaced by ``REDACTED`` (names compare case-insensitively,
#: after percent-decoding): signed-URL signatures, bearer tokens, passwords and API keys.
REDACTED_QUERY_PARAMS: frozenset[str] = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "client_secret",
        "id_token",
        "jwt",
        "key",
        "passwd",
        "password",
        "pwd",
        "refresh_token",
        "secret",
        "session",
        "sessionid",
        "sig",
        "signature",
        "token",
        "x-amz-credential",
        "x-amz-security-token",
        "x-amz-signature",
        "x-goog-credential",
        "x-goog-signature",
    }
)

# --- escaping --------------------------------------------------------------------------------

_TABLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0), ord('"'), ord("\\"))}
_TABLE_KEEP_BACKSLASH = {c: v for c, v in _TABLE.items() if c != ord("\\")}


# Printable ASCII but '"' (0x22) and '\\' (0x5C).  One regex scan is faster than
# str.isprintable(), which looks every character up in the Unicode tables.
_CLEAN = re.compile(r"[ !#-\[\]-~]*").fullmatch


def is_clean(value: str) -> bool:
    """True when ``value`` needs no escaping: printable ASCII without ``"`` or ``\\``."""
    return _CLEAN(value) is not None


def _escape_rest(value: str) -> str:
    """Escape what str.translate left: other non-printable characters (U+2028, bidi controls)."""
    if value.isprintable():
        return value
    return "".join(
        c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) <= 0xFF else f"\\u{ord(c):04x}")
        for c in value
    )


def escape(value: str) -> str:
    """Escape a PEP 3333 string (bytes decoded as latin-1) for a log line.

    PEP 3333 ("Unicode Issues") hands the server's bytes over as latin-1 ``str``.  They are
    turned back into bytes and read as UTF-8, so ``/caf%C3%A9`` logs as ``/café``; a byte that
    is not part of valid UTF-8 is written ``\\xhh`` instead of raising.
    """
    if is_clean(value):
        return value
    if value.isascii():
        return value.translate(_TABLE)
    # Backslashes first, so the \xhh written by the decoder below stays unambiguous.
    raw = value.replace("\\", "\\x5c").encode("latin-1", "backslashreplace")
    return _escape_rest(raw.decode("utf-8", "backslashreplace").translate(_TABLE_KEEP_BACKSLASH))


def escape_text(value: str) -> str:
    """Escape a real text string (an exception's name), with the same rules as :func:`escape`."""
    if is_clean(value):
        return value
    return _escape_rest(value.translate(_TABLE))


# --- redaction -------------------------------------------------------------------------------


def make_redactor(names: Iterable[str]) -> Callable[[str], str]:
    """A function that replaces the values of the query parameters called ``names``."""
    wanted = frozenset(name.lower() for name in names)
    if not wanted:
        return _unchanged
    # A quick test that rules out most query strings: a wanted name, or any percent-encoded
    # name, at the start or right after an "&".  Only then is the query split.  (Lower-casing
    # first and matching case-sensitively is twice as fast as re.IGNORECASE here.)
    alternatives = "|".join(re.escape(name) for name in sorted(wanted, key=len, reverse=True))
    maybe = re.compile(rf"(?<![^&])(?:{alternatives}|[^&=]*%[^&=]*)=").search

    def redact(query: str) -> str:
        if "%" not in query:  # the names are as written: look them up directly
            for part in query.split("&"):
                if part.partition("=")[0].lower() in wanted:
                    break
            else:
                return query
        elif not maybe(query.lower()):
            return query
        parts = query.split("&")
        for index, part in enumerate(parts):
            name, eq, value = part.partition("=")
            if eq and value:
                key = unquote(name.replace("+", " "), "latin-1") if "%" in name else name
                if key.lower() in wanted:
                    parts[index] = name + "=REDACTED"
        return "&".join(parts)

    return redact


def _unchanged(query: str) -> str:
    return query


# --- time ------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_MILLIS = tuple(f".{n:03d}" for n in range(1000))


class Clock:
    """Formats request start times; the text of the current second is computed once.

    The offset comes from ``tm_gmtoff`` of that very second, so it is right on both sides of a
    daylight-saving change (Paste's TransLogger uses ``time.altzone`` whenever the zone has
    DST at all).  Month names are English whatever the locale, as the Common Log Format wants.
    The cache is one tuple, replaced whole, so threads may share a clock without a lock.
    """

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: tuple[int, str, str, str] = (-1, "", "", "")

    def stamps(self, when: float) -> tuple[str, str]:
        """``(ISO 8601 with milliseconds and offset, Common Log Format)`` for ``when``."""
        second = int(when)
        cache = self._cache
        if cache[0] != second:
            t = time.localtime(second)
            off = t.tm_gmtoff
            sign = "-" if off < 0 else "+"
            hours, minutes = divmod(abs(off) // 60, 60)
            iso = (
                f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
                f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            )
            clf = (
                f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}"
                f":{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{hours:02d}{minutes:02d}"
            )
            cache = (second, iso, f"{sign}{hours:02d}:{minutes:02d}", clf)
            self._cache = cache
        return cache[1] + _MILLIS[int((when - second) * 1000)] + cache[2], cache[3]


# --- formats ---------------------------------------------------------------------------------

Fields = Mapping[str, Any]


def common(f: Fields) -> str:
    """NCSA Common Log Format."""
    return (
        f"{f['client_address'] or '-'} - {f['remote_user'] or '-'} [{f['clf_time']}] "
        f'"{_request_line(f)}" {f["status"]} {f["size"] or "-"}'
    )


def combined(f: Fields) -> str:
    """Apache combined, then the duration in ms, the request id and the outcome."""
    if f["outcome"] == "completed":
        mark = "-"
    elif f["outcome"] == "error":
        mark = "error=" + f["error_type"]
    else:
        mark = f["outcome"]
    return (
        f"{f['client_address'] or '-'} - {f['remote_user'] or '-'} [{f['clf_time']}] "
        f'"{_request_line(f)}" {f["status"]} {f["size"] or "-"} '
        f'"{f["referer"] or "-"}" "{f["user_agent"] or "-"}" '
        f"{f['duration_ms']:.3f} {f['request_id']} {mark}"
    )


def _request_line(f: Fields) -> str:
    query = f["query"]
    target = f"{f['path']}?{query}" if query else f["path"]
    return f"{f['method']} {target} {f['protocol']}"


def json_line(f: Fields) -> str:
    """One JSON object, keys from the OpenTelemetry HTTP semantic conventions."""
    protocol = f["protocol"]
    version = protocol[5:] if protocol.startswith("HTTP/") else protocol
    query = f'"url.query":"{f["query"]}",' if f["query"] else ""
    agent = f'"user_agent.original":"{f["user_agent"]}",' if f["user_agent"] else ""
    # OpenTelemetry's http.request.header.<key> is an array of the header's values.
    referer = f'"http.request.header.referer":["{f["referer"]}"],' if f["referer"] else ""
    user = f'"user.name":"{f["remote_user"]}",' if f["remote_user"] else ""
    error = f',"error.type":"{f["error_type"]}"' if f["error_type"] else ""
    line = (
        f'{{"timestamp":"{f["timestamp"]}","http.request.method":"{f["method"]}",'
        f'"url.path":"{f["path"]}",{query}"url.scheme":"{f["scheme"]}",'
        f'"http.response.status_code":{f["status"]},"http.response.body.size":{f["size"]},'
        f'"client.address":"{f["client_address"]}",{agent}{referer}{user}'
        f'"network.protocol.version":"{version}","duration_ms":{f["duration_ms"]:.3f},'
        f'"request_id":"{f["request_id"]}","outcome":"{f["outcome"]}"{error}}}'
    )
    # The fields are escaped already: no quote or control character is left in them, only the
    # backslashes of our own \xhh escapes.  The JSON around them has no backslash, so every
    # backslash in the line is one that JSON wants doubled (RFC 8259 section 7).
    return line.replace("\\", "\\\\")


_BUILTIN: dict[str, Callable[[Fields], str]] = {
    "common": common,
    "combined": combined,
    "json": json_line,
}

_SAMPLE: dict[str, Any] = {name: "x" for name in FIELDS} | {
    "status": 200,
    "size": 1,
    "duration_ms": 1.0,
}


def make_formatter(spec: object) -> Callable[[Fields], str]:
    """The function that turns the fields into a line: a built-in name or a format string."""
    if not isinstance(spec, str):
        raise TypeError(f"format must be a string, not {type(spec).__name__}")
    builtin = _BUILTIN.get(spec)
    if builtin is not None:
        return builtin
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(spec) if name is not None]
    except ValueError as exc:
        raise ValueError(f"format={spec!r} is not a valid format string: {exc}") from None
    if not names:
        raise ValueError(
            f"format={spec!r} is neither 'combined', 'common' nor 'json', nor a format string "
            "with named fields such as '{method} {path} {status}'"
        )
    unknown = sorted({name for name in names if name not in FIELDS})
    if unknown:
        raise ValueError(
            f"format={spec!r} uses unknown fields {unknown}; the fields are {sorted(FIELDS)}"
        )
    try:
        spec.format_map(_SAMPLE)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # KeyError, IndexError: parse() above lists only the outer fields, so one nested in a
        # format spec ("{duration_ms:{width}}") is found wanting only here.
        raise ValueError(
            f"format={spec!r} cannot format the fields: {type(exc).__name__}: {exc}"
        ) from None
    return spec.format_map
