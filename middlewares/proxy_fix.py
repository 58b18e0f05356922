"""``ProxyFix``: take the client's address, scheme, host and prefix from trusted proxies' headers.

A proxy in front of the application connects to it itself, so ``REMOTE_ADDR`` is the proxy's
address and ``wsgi.url_scheme``/``HTTP_HOST`` describe the proxy's request, not the client's.
Proxies say what the client sent in ``X-Forwarded-For/-Proto/-Host/-Port/-Prefix`` or in the
standard ``Forwarded`` header (RFC 7239).  Anyone can send those headers too, so they are read
only when the peer is one of the ``trusted`` proxies, and only the last values (the ones the
trusted proxies appended) are believed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["FORWARDED_KEY", "ORIG_KEY", "ProxyFix", "parse_forwarded"]

ORIG_KEY = "middlewares.proxy_fix.orig"
FORWARDED_KEY = "middlewares.proxy_fix.forwarded"

_CACHE_SIZE = 1024  # distinct values remembered per header and for the peer check, per instance
_MEMO_MAX = 256  # longer header values are parsed every time rather than remembered

# A row pairs a parser with the applier of what it returns (a str, or (name, port) for a host).
Parser = Callable[[str], Any]
Applier = Callable[["WSGIEnvironment", dict[str, Any], Any], None]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# wsgi.url_scheme names the HTTP scheme (PEP 3333, "normally http or https"); a WebSocket
# handshake is an HTTP request (RFC 6455 section 4.1), and frameworks decide "secure" by
# comparing with "https", so ws/wss are stored as http/https.
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# Host = uri-host [ ":" port ] (RFC 9110 section 7.2), with the host restricted to DNS names,
# IPv4 and bracketed IPv6: no spaces, paths, userinfo or anything a URL would misread.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::([0-9]{1,5}))?")
# A path prefix: "/" then non-empty segments of RFC 3986 pchars, "%" only as a pct-encoded octet
# (RFC 3986 sections 2.1 and 3.3).  Empty segments ("//evil.test") are refused, as a prefix
# starting with "//" would make every redirect protocol-relative.
_PREFIX = re.compile(r"(?:/(?:[A-Za-z0-9._~!$&'()*+;=:@-]|%[0-9A-Fa-f]{2})+)*/?")
# What the decoded prefix may not contain: an empty segment (as above), a "." or ".." segment
# (a client removes those before sending, RFC 3986 section 5.2.4, and "/app/.." would climb out
# of the prefix), or a control character (SCRIPT_NAME ends up in logs and HTML).
_BAD_DECODED_PREFIX = re.compile(r"//|/\.\.?(?:/|\Z)|[\x00-\x1f\x7f]")
# RFC 7239 section 6: obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-").
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")
# RFC 7239 section 4: forwarded-pair = token "=" value, value = token / quoted-string, pairs
# joined by ";" and elements by ",".  An unquoted value is read leniently up to the next
# separator, so `for=[::1]` from a sloppy proxy still parses.
_PAIR = re.compile(
    r"""[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^\s;,"]*)[ \t]*([;,]|\Z)""",
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)  # RFC 9110 section 5.6.4


def _parse_node(value: str) -> str | None:
    """The IP address in a ``for=`` / X-Forwarded-For value, without its port, or ``None``.

    Accepts ``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]``, ``[2001:db8::1]:80`` and a bare
    ``2001:db8::1``.  ``unknown`` and obfuscated ``_names`` (RFC 7239 section 6) are not
    addresses, so they give ``None`` and REMOTE_ADDR is left alone.
    """
    if value.startswith("["):
        end = value.find("]")
        address, rest = value[1:end], value[end + 1 :]
        if end < 0 or ":" not in address or (rest and not _node_port(rest)):
            return None
    elif value.count(":") == 1:  # IPv4 with a port; an IPv6 address has at least two colons
        address, port = value.split(":")
        if not _node_port(":" + port):
            return None
    else:
        address = value
    if "%" in address:
        # A zone id ("fe80::1%eth0") names an interface of the node that wrote it and means
        # nothing here (RFC 4007 section 6, RFC 6874 section 1); RFC 7239 section 6 has no
        # syntax for one.  Its text is arbitrary, so it must not reach REMOTE_ADDR or the logs.
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        # "::ffff:203.0.113.7" (RFC 4291 section 2.5.5.2) is an IPv4 client seen through a
        # dual-stack socket: store the IPv4 form, which IPv4 allowlists and log searches know
        # and which Python 3.11 and 3.13 print alike (the trust check unwraps peers the same way).
        return str(ip.ipv4_mapped)
    return str(ip)


def _node_port(text: str) -> bool:
    """``text`` is ":" and a port 1-65535 or an obfuscated port (RFC 7239 section 6)."""
    port = text[1:]
    return text[:1] == ":" and (_parse_port(port) is not None or bool(_OBFUSCATED.fullmatch(port)))


def _parse_proto(value: str) -> str | None:
    return _SCHEMES.get(value.lower())


def _parse_port(value: str) -> str | None:
    if value.isascii() and value.isdigit() and 0 < int(value) < 65536:
        return str(int(value))
    return None


def _parse_host(value: str) -> tuple[str, str | None] | None:
    """``(name, port or None)`` of a valid Host value; IPv6 keeps its brackets."""
    match = _HOST.fullmatch(value)
    if match is None or (match[2] is not None and _parse_port(match[2]) is None):
        return None
    if match[1].startswith("["):
        try:
            ipaddress.IPv6Address(match[1][1:-1])
        except ValueError:
            return None
    return match[1], match[2] and _parse_port(match[2])


def _parse_prefix(value: str) -> str | None:
    if not _PREFIX.fullmatch(value):
        return None
    # SCRIPT_NAME is decoded text, as PATH_INFO is (PEP 3333: "URL Reconstruction" quotes it
    # again), and latin-1 "native strings" (PEP 3333, "Unicode Issues"); "%2F%2F" or "%2e%2e"
    # become "//" and "..", so the checks are made on the decoded value.
    decoded = unquote(value, encoding="latin-1")
    if _BAD_DECODED_PREFIX.search(decoded):
        return None
    # SCRIPT_NAME never ends with "/" (PEP 3333, URL reconstruction), so "/app/" becomes "/app"
    # and "/" adds nothing.
    return decoded.rstrip("/") or None


def _split_host(host: str) -> tuple[str, str | None]:
    """``"example.com:8080"`` -> ``("example.com", "8080")``; IPv6 keeps its brackets."""
    # "]" ends a bracketed IPv6 address without a port; a bare IPv6 has several colons.
    if host.endswith("]") or (host.count(":") != 1 and not host.startswith("[")):
        return host, None
    name, _, port = host.rpartition(":")
    return name, port


# --- appliers: set environ keys, keeping each key's first original in `orig` ----------------
# (dict.setdefault, not a helper function: this is the per-request path.)


def _apply_for(environ: WSGIEnvironment, orig: dict[str, Any], address: str) -> None:
    orig.setdefault("REMOTE_ADDR", environ.get("REMOTE_ADDR"))
    environ["REMOTE_ADDR"] = address


def _apply_proto(environ: WSGIEnvironment, orig: dict[str, Any], scheme: str) -> None:
    orig.setdefault("wsgi.url_scheme", environ.get("wsgi.url_scheme"))
    environ["wsgi.url_scheme"] = scheme


def _apply_host(
    environ: WSGIEnvironment, orig: dict[str, Any], host: tuple[str, str | None]
) -> None:
    # A Host without a port means the scheme's default port (RFC 9110 section 7.2), and the
    # default port is left out of HTTP_HOST, as a browser does.
    name, port = host
    default = _DEFAULT_PORTS.get(environ.get("wsgi.url_scheme", "http"))
    port = port or default
    orig.setdefault("HTTP_HOST", environ.get("HTTP_HOST"))
    orig.setdefault("SERVER_NAME", environ.get("SERVER_NAME"))
    environ["HTTP_HOST"] = name if port is None or port == default else f"{name}:{port}"
    environ["SERVER_NAME"] = name
    if port is not None:
        orig.setdefault("SERVER_PORT", environ.get("SERVER_PORT"))
        environ["SERVER_PORT"] = port


def _apply_port(environ: WSGIEnvironment, orig: dict[str, Any], port: str) -> None:
    # The host name stays the request's own (from HTTP_HOST, else SERVER_NAME); only the port
    # changes, in HTTP_HOST and SERVER_PORT, and SERVER_NAME follows HTTP_HOST's name.
    name, _ = _split_host(environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or "")
    _apply_host(environ, orig, (name, port))


def _apply_prefix(environ: WSGIEnvironment, orig: dict[str, Any], prefix: str) -> None:
    # The proxy's prefix is outermost: the client asked for prefix + SCRIPT_NAME + PATH_INFO.
    script_name = environ.get("SCRIPT_NAME", "")
    orig.setdefault("SCRIPT_NAME", script_name)
    environ["SCRIPT_NAME"] = prefix + script_name


# One row per X-Forwarded-* header: (environ key, option, parser, applier).  Werkzeug issue
# #1414 came from five copied blocks, one of which read another header's option; here there is
# one loop.  The order matters: the scheme is set before the host, whose default port it gives.
_X_HEADERS: tuple[tuple[str, str, Parser, Applier], ...] = (
    ("HTTP_X_FORWARDED_FOR", "x_for", _parse_node, _apply_for),
    ("HTTP_X_FORWARDED_PROTO", "x_proto", _parse_proto, _apply_proto),
    ("HTTP_X_FORWARDED_HOST", "x_host", _parse_host, _apply_host),
    ("HTTP_X_FORWARDED_PORT", "x_port", _parse_port, _apply_port),
    ("HTTP_X_FORWARDED_PREFIX", "x_prefix", _parse_prefix, _apply_prefix),
)
# The parameters of RFC 7239 section 5 that change the environ ("by" is only recorded).
_FORWARDED_PARAMS: tuple[tuple[str, Parser, Applier], ...] = (
    ("for", _parse_node, _apply_for),
    ("proto", _parse_proto, _apply_proto),
    ("host", _parse_host, _apply_host),
)


def parse_forwarded(header: str) -> list[dict[str, str]]:
    """Split an RFC 7239 ``Forwarded`` header into elements of lower-cased parameters.

    Quoted strings are unquoted (quoted-pairs included).  An element that does not parse, or
    repeats a parameter (RFC 7239 section 4: "MUST NOT occur more than once"), is kept as ``{}``
    so positions counted from the right stay right; empty list elements are skipped (RFC 9110
    section 5.6.1).
    """
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    pos, end = 0, len(header)
    while pos < end:
        if not element and header[pos] in ", \t":
            pos += 1
            continue
        match = _PAIR.match(header, pos)
        if match is None or match[1].lower() in element:
            elements.append({})
            element = {}
            comma = header.find(",", pos)
            if comma < 0:
                return elements
            pos = comma + 1
            continue
        name, value, separator = match.groups()
        if value.startswith('"'):
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        element[name.lower()] = value
        pos = match.end()
        if separator != ";":
            elements.append(element)
            element = {}
    if element:  # "for=1.2.3.4;" at the very end
        elements.append(element)
    return elements


def _parse_trusted(trusted: Iterable[str]) -> tuple[bool, bool, tuple[Network, ...]]:
    if isinstance(trusted, str):
        raise TypeError(f"trusted must be a list of addresses, not a string: trusted=[{trusted!r}]")
    if isinstance(trusted, bytes) or not isinstance(trusted, Iterable):
        raise TypeError(
            f"trusted must be a list of addresses and networks, e.g. trusted=['10.0.0.2'], "
            f"not {trusted!r}"
        )
    any_peer = unix = False
    networks: list[Network] = []
    for entry in trusted:
        if not isinstance(entry, str):
            raise TypeError(f"trusted: {entry!r} is not a string")
        if entry.strip() == "*":
            any_peer = True
        elif entry.strip().lower() == "unix":
            unix = True
        else:
            networks.append(_trusted_network(entry))
    return any_peer, unix, tuple(networks)


def _trusted_network(entry: str) -> Network:
    """One ``trusted`` entry as a network; an IPv4-mapped one as the IPv4 network it maps."""
    text = entry.strip()
    try:
        network = ipaddress.ip_network(text)
    except ValueError as exc:
        try:
            interface = ipaddress.ip_interface(text)
        except ValueError:
            interface = None
        if isinstance(interface, ipaddress.IPv6Interface) and interface.ip.ipv4_mapped is not None:
            # "::ffff:10.0.0.0/88" reaches outside the mapped range ::ffff:0:0/96.
            raise ValueError(
                f"trusted: {entry!r}: an IPv4-mapped network needs a prefix of /96 or more "
                "('::ffff:10.0.0.0/104' is 10.0.0.0/8); write the IPv4 network instead"
            ) from None
        raise ValueError(f"trusted: {entry!r} is not an address or network: {exc}") from None
    mapped = network.network_address.ipv4_mapped if network.version == 6 else None
    if mapped is not None:
        # The peer check compares a dual-stack peer "::ffff:10.0.0.2" as 10.0.0.2, so an entry
        # written the way the access log shows it becomes the same IPv4 network (a /96 holds
        # all of IPv4, RFC 4291 section 2.5.5.2: /104 is /8).
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def _stripped(parse: Parser) -> Parser:
    def read(value: str) -> Any:
        return parse(value.strip(" \t"))  # OWS, RFC 9110 section 5.6.3

    return read


def _nth_from_right(parse: Parser, count: int) -> Parser:
    """Parse the ``count``-th value from the right of an X-Forwarded-* list, if there is one."""

    def read(header: str) -> Any:
        # X-Forwarded-* are plain comma lists (no quoting in practice); the last `count`
        # values are the ones the trusted proxies appended.
        values = header.split(",")
        return parse(values[-count].strip(" \t")) if len(values) >= count else None

    return read


def _memo(read: Parser) -> tuple[Parser, Parser]:
    """``read`` remembered (a pure function of one string), and ``read`` itself."""
    return functools.lru_cache(maxsize=_CACHE_SIZE)(read), read


class ProxyFix:
    """Set the client's address, scheme, host and prefix from trusted proxies' headers.

    Security: the headers are read only when ``REMOTE_ADDR`` is in ``trusted``, and a count
    must equal the number of proxies that set that header: one too many and the client chooses
    the value.  ``x_host`` is off by default because a forged host poisons password-reset links.

    Usage::

        app = ProxyFix(app, x_for=1, x_proto=1, trusted=["10.0.0.0/8"])

    The original value of every key it sets is kept in
    ``environ["middlewares.proxy_fix.orig"]`` (``None`` when the key was absent); that key is
    present only when something was set.

    :param app: the WSGI application to call.
    :param x_for: how many ``X-Forwarded-For`` values to trust from the right; sets
        ``REMOTE_ADDR`` to the address in canonical form (an IPv4-mapped address as IPv4; an
        address with a zone id is ignored).  Default 1, or 0 when ``forwarded`` is set.
    :param x_proto: the same for ``X-Forwarded-Proto``; sets ``wsgi.url_scheme`` (http, https;
        ws and wss are stored as http and https).  Default 1, or 0 when ``forwarded`` is set.
    :param x_host: the same for ``X-Forwarded-Host``; sets ``HTTP_HOST``, ``SERVER_NAME`` and
        ``SERVER_PORT`` (the scheme's default port when the value has none).  Default 0.
    :param x_port: the same for ``X-Forwarded-Port``; sets ``SERVER_PORT`` and the port of
        ``HTTP_HOST`` (omitted when it is the scheme's default), and ``SERVER_NAME`` to the
        name in ``HTTP_HOST``.  Default 0.
    :param x_prefix: the same for ``X-Forwarded-Prefix``; puts the prefix, percent-decoded
        (``SCRIPT_NAME`` holds the decoded path) and without a trailing slash, in front of
        ``SCRIPT_NAME``.  Default 0.
    :param forwarded: how many elements of the RFC 7239 ``Forwarded`` header to trust from the
        right; ``for``, ``proto`` and ``host`` of the outermost trusted element are applied
        as above.  Cannot be combined with an ``x_*`` count.  Default 0.
    :param trusted: addresses and CIDR networks of the proxies allowed to send these headers
        (IPv4-mapped ones, ``"::ffff:10.0.0.0/104"``, mean their IPv4 network, ``10.0.0.0/8``);
        ``"*"`` trusts every peer (Werkzeug's behaviour), ``"unix"`` trusts requests that came
        over a unix socket (``REMOTE_ADDR`` absent, empty, or not an IP address).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        x_for: int | None = None,
        x_proto: int | None = None,
        x_host: int = 0,
        x_port: int = 0,
        x_prefix: int = 0,
        forwarded: int = 0,
        trusted: Iterable[str] = ("127.0.0.1", "::1"),
    ) -> None:
        self.app = app
        default = 0 if forwarded else 1
        counts = {
            "x_for": default if x_for is None else x_for,
            "x_proto": default if x_proto is None else x_proto,
            "x_host": x_host,
            "x_port": x_port,
            "x_prefix": x_prefix,
            "forwarded": forwarded,
        }
        for option, count in counts.items():
            if not isinstance(count, int) or isinstance(count, bool):
                raise TypeError(f"{option} must be an int (a number of proxies), not {count!r}")
            if count < 0:
                raise ValueError(f"{option}={count}: a count cannot be negative (0 ignores it)")
        both = [f"{name}={n}" for name, n in counts.items() if n and name != "forwarded"]
        if forwarded and both:
            raise ValueError(
                f"forwarded={forwarded} cannot be combined with {', '.join(both)}: two sources "
                "of truth for the same facts; trust either Forwarded or X-Forwarded-*"
            )
        self.x_for, self.x_proto = counts["x_for"], counts["x_proto"]
        self.x_host, self.x_port, self.x_prefix = x_host, x_port, x_prefix
        self.forwarded = forwarded
        self._any_peer, self._unix, self._networks = _parse_trusted(trusted)

        # Per request, the peer check and each header's reading are bounded, thread-safe memo
        # lookups keyed by the raw string (headers longer than _MEMO_MAX are read uncached, so
        # a client cannot fill memory through a trusted proxy).
        self._peer_trusted = functools.lru_cache(maxsize=_CACHE_SIZE)(self._check_peer)
        self._x_rows = tuple(
            (key, *_memo(_nth_from_right(parse, counts[option])), apply)
            for key, option, parse, apply in _X_HEADERS
            if counts[option]
        )
        self._forwarded_rows = tuple(
            (name, _memo(_stripped(parse))[0], apply) for name, parse, apply in _FORWARDED_PARAMS
        )

    def _check_peer(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            # gunicorn gives "" for a unix socket peer, waitress "localhost", uWSGI may omit it.
            return self._unix
        if address.version == 6 and address.ipv4_mapped is not None:  # a dual-stack socket
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._any_peer or self._peer_trusted(environ.get("REMOTE_ADDR") or ""):
            orig: dict[str, Any] = {}
            if self.forwarded:
                self._apply_forwarded(environ, orig)
            else:
                for key, cached, read, apply in self._x_rows:
                    header = environ.get(key)
                    if header:
                        value = cached(header) if len(header) <= _MEMO_MAX else read(header)
                        if value is not None:
                            apply(environ, orig, value)
            if orig:
                environ[ORIG_KEY] = orig
        return self.app(environ, start_response)

    def _apply_forwarded(self, environ: WSGIEnvironment, orig: dict[str, Any]) -> None:
        header = environ.get("HTTP_FORWARDED")
        elements = parse_forwarded(header) if header else []
        if len(elements) < self.forwarded:
            return
        trusted = environ[FORWARDED_KEY] = elements[-self.forwarded :]
        for name, parse, apply in self._forwarded_rows:
            raw = trusted[0].get(name)
            value = None if raw is None else parse(raw)
            if value is not None:
                apply(environ, orig, value)
