"""HTTP validators and byte ranges for :class:`~middlewares.static.StaticFiles` (RFC 9110).

Small pieces written here rather than taken from WebOb, each for a stated reason:

* entity-tag lists: WebOb's ``ETagMatcher`` builds objects per request; the 304 path is hot, so
  a regular expression over the header (quoted tags may contain commas, RFC 9110 section 8.8.3,
  so the list is not split on commas) and a set lookup do the job;
* ``Range``: WebOb's ``Range.parse`` reads ``bytes=-0`` as the whole file (RFC 9110 section
  14.1.1 makes it unsatisfiable) and silently keeps the first of several ranges; we need the
  three answers "ignore", "unsatisfiable" and "this slice" kept apart;
* HTTP dates: :func:`email.utils.parsedate_tz` is lenient (it reads the first of a list of
  dates, skips trailing junk, takes day 32), but RFC 9110 sections 13.1.3 and 13.1.4 say a
  recipient MUST ignore a value that is not a valid HTTP-date; one full-match regular
  expression per section 5.6.7 format, then a range check of each field.  Results are cached
  per header value, since a browser repeats the value it was given.
"""

from __future__ import annotations

import calendar
import functools
import re
import time
from email.utils import formatdate

__all__ = [
    "UNSATISFIABLE",
    "http_date",
    "if_match",
    "if_none_match",
    "if_range",
    "parse_http_date",
    "parse_range",
]

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE   (RFC 9110 section 8.8.3)
_ETAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')
# Longer numbers than this are far beyond any file size; cap them rather than parse 4000 digits.
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS

#: :func:`parse_range` result for a range that cannot be satisfied (answer 416).
UNSATISFIABLE = (-1, -1)

# HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate, then the obsolete rfc850-date and asctime.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "(?P<month>" + "|".join(_MONTHS) + ")"
_TIME = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<sec>[0-9]{2})"
_DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_IMF_FIXDATE = re.compile(
    rf"{_DAY_NAME}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT"
)
_RFC850 = re.compile(
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    rf"(?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT"
)
_ASCTIME = re.compile(
    rf"{_DAY_NAME} {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME} (?P<year>[0-9]{{4}})"
)


def http_date(timestamp: float) -> str:
    """The IMF-fixdate form of ``timestamp`` (RFC 9110 section 5.6.7)."""
    return formatdate(timestamp, usegmt=True)


@functools.lru_cache(maxsize=256)
def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for an HTTP-date in any of its three forms, ``None`` if invalid.

    Exactly the grammar of RFC 9110 section 5.6.7 (case-sensitive names, ``GMT``, two-digit
    fields), with each field in range; anything else, a list of dates included, is ``None``.
    The day name is not checked against the date, as no rule asks a recipient to.
    """
    value = value.strip(" \t")  # optional whitespace around a field value (section 5.5)
    match = _IMF_FIXDATE.fullmatch(value) or _ASCTIME.fullmatch(value)
    if match is not None:
        year = int(match["year"])
    else:
        match = _RFC850.fullmatch(value)
        if match is None:
            return None
        year = _two_digit_year(int(match["year"]))
    month = _MONTHS.index(match["month"]) + 1
    day, hour, minute, second = (int(match[name]) for name in ("day", "hour", "minute", "sec"))
    # time-of-day runs 00:00:00 - 23:59:60, the 60 for a leap second (section 5.6.7); year 0000
    # is in the grammar but not in the calendar timegm uses.
    valid_time = hour < 24 and minute < 60 and second <= 60
    if not valid_time or year < 1 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return calendar.timegm((year, month, day, hour, minute, second))


def _two_digit_year(yy: int) -> int:
    """RFC 9110 section 5.6.7: a rfc850-date more than 50 years ahead is in the past century."""
    this_year = time.gmtime().tm_year
    year = this_year - this_year % 100 + yy
    return year - 100 if year > this_year + 50 else year


def _tags(header: str) -> tuple[set[str], set[str]] | None:
    """(weak-comparison opaque tags, strong tags) of an entity-tag list; ``None`` if malformed."""
    weak: set[str] = set()
    strong: set[str] = set()
    pos = 0
    while pos < len(header):
        match = _ETAG.match(header, pos)
        if match is None:
            return None
        weak.add(match.group(2))
        if match.group(1) is None:
            strong.add(match.group(2))
        pos = match.end()
    return weak, strong


def if_none_match(header: str, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag``, i.e. the answer is 304 (RFC 9110 13.1.2).

    Weak comparison: ``W/"x"`` matches ``"x"``; ``*`` matches any current representation.  A
    malformed header matches nothing, so the full response is sent.
    """
    if header == etag:  # the common case: the browser echoes the tag it was given
        return True
    header = header.strip()
    if header == "*":
        return True
    tags = _tags(header)
    return tags is not None and etag in tags[0]


def if_match(header: str, etag: str) -> bool:
    """Whether ``If-Match`` is satisfied: ``*`` or a strong match (RFC 9110 section 13.1.1)."""
    header = header.strip()
    if header == "*":
        return True
    tags = _tags(header)
    return tags is not None and etag in tags[1]


def if_range(header: str, etag: str, last_modified: int) -> bool:
    """Whether ``If-Range`` lets the ``Range`` apply (RFC 9110 section 13.1.5).

    An entity-tag must match strongly (a weak tag never does); a date must equal the
    representation's modification time exactly.  Otherwise the whole representation is sent.
    """
    header = header.strip()
    if header.startswith(('"', "W/")):
        return header == etag
    return parse_http_date(header) == last_modified


def _number(digits: str) -> int | None:
    if not digits.isdigit() or not digits.isascii():
        return None
    return _HUGE if len(digits) > _MAX_DIGITS else int(digits)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte slice a ``Range`` header asks of ``size`` bytes.

    RFC 9110 section 14.1.2: ``bytes=0-0`` is the first byte, ``bytes=-N`` the last N bytes,
    ``bytes=N-`` from N to the end, a last position past the end is cut to the end.  Returns
    :data:`UNSATISFIABLE` when no byte can be sent (first position at or past the end, or
    ``-0``), and ``None`` when the header is to be ignored: another unit, invalid syntax,
    several ranges (this server answers those with the whole file, which section 14.2 allows),
    or an empty representation.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or size <= 0:
        return None
    spec = spec.strip()
    if "," in spec:
        return None
    first_s, dash, last_s = spec.partition("-")
    if not dash:
        return None
    first_s, last_s = first_s.strip(), last_s.strip()
    if not first_s:  # suffix-range
        suffix = _number(last_s)
        if suffix is None:
            return None
        if suffix == 0:
            return UNSATISFIABLE
        return max(size - suffix, 0), size - 1
    first = _number(first_s)
    if first is None:
        return None
    if last_s:
        last = _number(last_s)
        if last is None or last < first:
            return None
    else:
        last = size - 1
    if first >= size:
        return UNSATISFIABLE
    return first, min(last, size - 1)
