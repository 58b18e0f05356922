"""CORS: the Fetch standard's CORS protocol (https://fetch.spec.whatwg.org/#http-cors-protocol)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from middlewares._wsgi import Headers, Responder, add_vary, merge_token

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CORS"]

# RFC 9110 section 5.6.2: token = 1*tchar.  Method and header names are tokens.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# An origin serialises as scheme "://" host [ ":" port ] (RFC 6454 section 6.1; Fetch's
# "serialization of an origin").  ASCII only: browsers send IDNs as punycode.
_ORIGIN = re.compile(
    r"([A-Za-z][A-Za-z0-9+.\-]*)://"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._]+)"
    r"(?::([0-9]{1,5}))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Fetch: these request headers are CORS-safelisted (with simple values) and browsers list them
# in Access-Control-Request-Headers only for non-simple values (Content-Type: application/json).
_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})
# Origins nobody lists on purpose.  A regex that admits one admits hosts nobody chose, i.e. it
# is a catch-all ("https://.*", "https?://[^/]+", "https://[a-z.]+", "https://.*\.com"), and
# with credentials it would let any site read a user's data.  The hosts: names under ".invalid",
# which never exist (RFC 6761 section 6.4), and made-up names under the commonest public
# suffixes; with and without a hyphen ("https://[a-z.]+" admits "evil.com" but not
# "cors-probe.invalid"); one, two and three labels; IPv4 and IPv6 literals from the
# documentation ranges (RFC 5737, RFC 3849).  Each over https and http, without a port and with
# the usual alternative ones.  A net for the common mistakes, not a proof that a regex is safe.
_PROBE_HOSTS = (
    "corsprobe.invalid",
    "cors-probe.invalid",
    "a.b.cors-probe.invalid",
    "corsprobe",
    "corsprobe.com",
    "www.corsprobe.com",
    "corsprobe.net",
    "corsprobe.org",
    "corsprobe.io",
    "corsprobe.dev",
    "corsprobe.app",
    "corsprobe.co",
    "corsprobe.co.uk",
    "203.0.113.7",
    "[2001:db8::7]",
)
_PROBES = tuple(
    f"{scheme}://{host}{port}"
    for host in _PROBE_HOSTS
    for scheme in ("https", "http")
    for port in ("", ":8080", ":8443")
)
# A dot-segment ("/./", "/../") in PATH_INFO: per-path rules are not applied to such a path.
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
_OPTIONS = (
    "allow_origins",
    "allow_origin_regex",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "expose_headers",
    "max_age",
    "allow_private_network",
)
_VARY_ORIGIN = ("Vary", "Origin")
_FORBIDDEN = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "0")]


def _normalise(origin: str) -> str | None:
    """The origin in canonical form (lower-case scheme and host, no default port), or ``None``."""
    match = _ORIGIN.fullmatch(origin)
    if match is None:
        return None
    if match.group(3) is None and origin.islower():  # already canonical: what browsers send
        return origin
    return _canonical(match)


def _canonical(match: re.Match[str]) -> str | None:
    scheme, host, port = match.groups()
    scheme = scheme.lower()
    canonical = f"{scheme}://{host.lower()}"
    if port is None:
        return canonical
    number = int(port)
    if number > 65535:
        return None
    return canonical if _DEFAULT_PORTS.get(scheme) == number else f"{canonical}:{number}"


def _config_origin(origin: object, where: str) -> str:
    if not isinstance(origin, str):
        raise TypeError(f"{where}allow_origins: {origin!r} is not a string")
    if origin in ("*", "null"):
        return origin
    scheme, sep, rest = origin.partition("://")
    if not sep or not scheme:
        raise ValueError(
            f"{where}allow_origins: {origin!r} has no scheme; write 'https://{origin}'"
        )
    for char, what in (("/", "a path"), ("?", "a query"), ("#", "a fragment"), ("@", "userinfo")):
        if char in rest:
            # The suggestion is the authority without its userinfo, which ends at the last "@"
            # (the WHATWG URL parser's rule), so it is itself a valid origin.
            host_port = re.split(r"[/?#]", rest)[0].rpartition("@")[2]
            raise ValueError(
                f"{where}allow_origins: {origin!r} has {what}; an origin is only "
                f"scheme://host[:port], e.g. {scheme + '://' + host_port!r}"
            )
    canonical = _normalise(origin)
    if canonical is None:
        raise ValueError(f"{where}allow_origins: {origin!r} is not a valid scheme://host[:port]")
    return canonical


def _names(option: str, value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"{where}{option} must be a list of strings, e.g. {option}=['...']")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{where}{option}: {item!r} is not a string")
        if item != "*" and not _TOKEN.fullmatch(item):
            raise ValueError(f"{where}{option}: {item!r} is not a valid name (RFC 9110 token)")
        if item not in names:
            names.append(item)
    return tuple(names)


def _flag(option: str, value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{where}{option} must be True or False, not {value!r}")
    return value


class _Policy:
    """One option set, validated and turned into lookups and ready-made header tuples."""

    __slots__ = (
        "actual_headers",
        "actual_names",
        "allow_all",
        "any_header",
        "any_method",
        "credentials",
        "fast_regex",
        "headers",
        "methods",
        "methods_value",
        "origins",
        "preflight_headers",
        "preflight_vary",
        "private_network",
        "regex",
    )

    def __init__(self, options: Mapping[str, Any], where: str = "") -> None:
        origins = _names_or_origins(options["allow_origins"], where)
        self.allow_all = "*" in origins
        self.origins = frozenset(o for o in origins if o != "*")
        self.credentials = _flag("allow_credentials", options["allow_credentials"], where)
        self.private_network = _flag(
            "allow_private_network", options["allow_private_network"], where
        )
        self.regex = _regex(options["allow_origin_regex"], self.credentials, where)
        self.fast_regex = None if self.allow_all else _fast_regex(self.regex)
        if self.credentials and self.allow_all:
            # Fetch: a credentialed response may not say "*", and reflecting every origin instead
            # (what many libraries do silently) lets any site read a user's private data.
            raise ValueError(
                f"{where}allow_credentials=True cannot be combined with allow_origins=['*']: "
                "list the origins that may send credentials"
            )
        methods = _names("allow_methods", options["allow_methods"], where)
        self.any_method = "*" in methods
        self.methods = frozenset(methods)
        self.methods_value = ", ".join(methods)
        headers = _names("allow_headers", options["allow_headers"], where)
        self.any_header = "*" in headers
        self.headers = _SAFELISTED | {h.lower() for h in headers}
        expose = _names("expose_headers", options["expose_headers"], where)
        if self.credentials and "*" in expose:
            # Fetch: with credentials, "*" in Access-Control-Expose-Headers is a header named "*".
            raise ValueError(
                f"{where}expose_headers=['*'] does not work with allow_credentials=True: "
                "list the headers to expose"
            )
        max_age = options["max_age"]
        if max_age is not None and (
            not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0
        ):
            raise ValueError(f"{where}max_age must be a whole number of seconds >= 0 or None")

        credentials = [("Access-Control-Allow-Credentials", "true")] if self.credentials else []
        actual = [*credentials]
        if expose:
            actual.append(("Access-Control-Expose-Headers", ", ".join(expose)))
        self.actual_headers = tuple(actual)
        self.actual_names = frozenset(name.lower() for name, _ in actual)
        preflight = [*credentials]
        if max_age is not None:
            preflight.append(("Access-Control-Max-Age", str(max_age)))
        self.preflight_headers = tuple(preflight)
        vary = ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"]
        if self.private_network:
            vary.append("Access-Control-Request-Private-Network")
        self.preflight_vary = ", ".join(vary)

    @property
    def active(self) -> bool:
        """Whether any origin can be allowed (else the answer never depends on the origin)."""
        return bool(self.allow_all or self.origins or self.regex)

    def allow(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for ``origin``, or ``None`` if not allowed."""
        if origin in self.origins:  # already canonical (what browsers send), or "null" listed
            return "*" if self.allow_all else origin
        if self.fast_regex is not None and self.fast_regex.fullmatch(origin):
            return origin  # canonical, valid and admitted by the regex, in one match
        # _normalise() inlined: this is the per-request hot path for every unlisted origin.
        match = _ORIGIN.fullmatch(origin)  # no match for "null" and anything malformed
        if match is None:
            return None
        if match.group(3) is None and origin.islower():
            canonical = origin
        else:
            normal = _canonical(match)
            if normal is None:
                return None
            canonical = normal
        if self.allow_all:
            return "*"
        if (canonical is not origin and canonical in self.origins) or (
            self.regex is not None and self.regex.fullmatch(canonical)
        ):
            return origin  # validated above: no CR/LF or other bytes can reach the header
        return None

    def allow_headers(self, requested: str) -> str:
        """The Access-Control-Allow-Headers value: the requested headers that are allowed."""
        names: list[str] = []
        for part in requested.split(","):
            name = part.strip().lower()
            if (
                name
                and name not in names
                and (name in self.headers or (self.any_header and _TOKEN.fullmatch(name)))
            ):
                names.append(name)
        # Fetch: "*" is a wildcard only without credentials, and never covers Authorization.
        if self.any_header and not self.credentials and "authorization" not in names:
            return "*"
        return ", ".join(names)


def _names_or_origins(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(
            f"{where}allow_origins must be a list of origins, e.g. ['https://a.example']"
        )
    return tuple(_config_origin(origin, where) for origin in value)


def _regex(value: object, credentials: bool, where: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(
                f"{where}allow_origin_regex {value!r} does not compile: {exc}"
            ) from exc
    elif isinstance(value, re.Pattern) and isinstance(value.pattern, str):
        pattern = value
    else:
        raise TypeError(f"{where}allow_origin_regex must be a string or compiled str pattern")
    if credentials:
        admitted = next((probe for probe in _PROBES if pattern.fullmatch(probe)), None)
        if admitted is not None:
            raise ValueError(
                f"{where}allow_credentials=True cannot be combined with allow_origin_regex="
                f"{pattern.pattern!r}, which admits any origin (it matches {admitted!r}): "
                "list the origins or anchor the regex to your domains"
            )
    return pattern


def _fast_regex(pattern: re.Pattern[str] | None) -> re.Pattern[str] | None:
    """One regex for the common case: an origin already canonical that the user's regex admits.

    Browsers send origins in canonical form (lower case, no default port), so a lower-case
    origin without a port that matches both the origin syntax and the user's regex can be
    allowed in one match instead of two.  The user's pattern comes first, inside a lookahead,
    so its group numbers (backreferences) are unchanged.  The syntax part has no ``.``, ``^``,
    ``$`` or spaces, so only ``IGNORECASE`` changes it (it then accepts upper case, which the
    two-step path allows too: the origin is echoed as sent).  A ``VERBOSE`` pattern (a ``#``
    comment would swallow the rest) or one that cannot be embedded (global inline flags) keeps
    the two-step path.  Tests check that both paths agree.
    """
    if pattern is None or pattern.flags & re.VERBOSE:
        return None
    try:
        return re.compile(
            rf"(?=(?:{pattern.pattern})\Z)[a-z][a-z0-9+.\-]*://(?:\[[0-9a-f:.]+\]|[a-z0-9\-._]+)",
            pattern.flags,
        )
    except re.error:
        return None


class _Actual(Responder):
    """An actual (non-preflight) response: adds the CORS headers and ``Vary: Origin``."""

    watch_end = False
    __slots__ = ("allow_origin", "policy")

    allow_origin: str | None
    policy: _Policy

    def start(self, status: str, headers: Headers, body: Iterable[bytes] | None) -> str:
        names = set()
        vary = -1  # the index of the one Vary line; -2 when there are several
        for index, (name, _) in enumerate(headers):  # a loop: a comprehension is a call
            lname = name.lower()
            if lname == "vary":
                vary = index if vary == -1 else -2
            names.add(lname)
        # An app that answers CORS itself for this response keeps its own headers.
        if self.allow_origin is not None and "access-control-allow-origin" not in names:
            headers.append(("Access-Control-Allow-Origin", self.allow_origin))
            policy = self.policy
            if names.isdisjoint(policy.actual_names):
                headers += policy.actual_headers
            else:
                headers += [item for item in policy.actual_headers if item[0].lower() not in names]
        # The answer depends on Origin whether it was allowed, refused or absent: without
        # Vary a cache could serve one origin's response to another (RFC 9110 section 12.5.5).
        if vary == -1:
            headers.append(_VARY_ORIGIN)
        elif vary >= 0 and (merged := merge_token(headers[vary][1], "Origin")) is not None:
            headers[vary] = (headers[vary][0], merged)  # one plain line (Compress's), the usual
        else:
            add_vary(headers, "Origin")
        return status


class CORS:
    """Answer CORS preflights and add CORS headers, as the Fetch standard's CORS protocol says.

    Secure by default: no origin is allowed until listed; origins compare exactly after
    normalisation (lower-case scheme and host, default port dropped); ``allow_origin_regex`` must
    match the whole origin; credentials cannot be combined with ``"*"`` or a catch-all regex
    (a ``ValueError`` says to list the origins); ``null`` is allowed only when listed.  CORS
    lets browsers *read* responses; it does not stop requests reaching the app (use CSRF
    protection for that).  Usage::

        app = CORS(app, allow_origins=["https://app.example"], allow_credentials=True,
                   allow_methods=["GET", "PUT"], allow_headers=["X-Token"])

    A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered
    here without calling the app: ``204`` with the allowed method, headers, max age and
    credentials, or ``403`` without CORS headers when the origin or method is not allowed.  A
    plain ``OPTIONS`` goes to the app.  Every other response gets ``Access-Control-Allow-Origin``
    (the origin itself, or ``*`` when all origins are allowed without credentials),
    ``-Allow-Credentials`` and ``-Expose-Headers`` when the origin is allowed, and ``Vary: Origin``
    always, error responses and origin-less requests included.  A response on which the app set
    ``Access-Control-Allow-Origin`` itself keeps the app's CORS headers untouched, as does any
    other CORS header the app set.  The body is never touched.  Where no origin can be allowed
    (the defaults), requests pass straight through.

    The origin regex is matched against the normalised origin (so write it in lower case).  A
    regex is a catch-all, and refused with credentials, when it matches one of a set of probe
    origins nobody lists on purpose (names under the reserved ``.invalid`` domain of RFC 6761,
    made-up names under ``.com``, ``.net``, ``.org`` and other common suffixes, single-label
    names, documentation IP addresses; http and https, with and without a port), e.g.
    ``https://.*``, ``https?://[^/]+``, ``https://[a-z.]+`` or ``https://.*\\.com``.

    :param app: the WSGI application to wrap.
    :param allow_origins: origins (``scheme://host[:port]``) allowed to read responses; ``"*"``
        for any origin (without credentials); ``"null"`` for opaque origins (sandboxed frames,
        ``file:``; rarely wise).  An origin with a path, no scheme or bad syntax is a
        ``ValueError``.
    :param allow_origin_regex: a regex (string or compiled) an allowed origin must ``fullmatch``,
        e.g. ``r"https://[a-z0-9-]+\\.example\\.com"``.
    :param allow_methods: methods a preflight may ask for (case-sensitive); ``"*"`` for any.
    :param allow_headers: request headers a preflight may ask for (case-insensitive), besides
        the CORS-safelisted ``Accept``, ``Accept-Language``, ``Content-Language`` and
        ``Content-Type``; ``"*"`` for any.
    :param allow_credentials: let the browser send cookies and HTTP auth and read the answer.
    :param expose_headers: response headers scripts may read besides the safelisted ones.
    :param max_age: seconds a browser may cache a preflight answer; ``None`` to omit.
    :param allow_private_network: answer Private Network Access preflights
        (``Access-Control-Allow-Private-Network: true``) when asked.
    :param paths: per-path option sets, ``{pattern: {option: value}}``, e.g. ``{"/api/public/*":
        {"allow_origins": ["*"], "allow_credentials": False}}``.  A pattern is an exact path
        (``"/status"``) or a prefix ending in ``/*`` (``"/api/*"`` matches ``/api`` and everything
        under ``/api/``, not ``/apix``); the most specific wins (an exact path, then the longest
        prefix), whatever the mapping's order.  Patterns match ``PATH_INFO`` as the server gave
        it (the path after the ``SCRIPT_NAME`` of a mount), case-sensitively, with no further
        decoding (``+`` is a plus).  Options not given take the top-level values; paths matching
        no pattern use the top-level options; a path with a ``.`` or ``..`` segment matches no
        pattern and allows no origin.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        allow_origins: Iterable[str] = (),
        allow_origin_regex: str | re.Pattern[str] | None = None,
        allow_methods: Iterable[str] = ("GET", "HEAD", "POST"),
        allow_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
        max_age: int | None = 600,
        allow_private_network: bool = False,
        paths: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.app = app
        base: dict[str, Any] = {
            "allow_origins": allow_origins,
            "allow_origin_regex": allow_origin_regex,
            "allow_methods": allow_methods,
            "allow_headers": allow_headers,
            "allow_credentials": allow_credentials,
            "expose_headers": expose_headers,
            "max_age": max_age,
            "allow_private_network": allow_private_network,
        }
        policy = _Policy(base)
        self._policy = policy if policy.active else None
        self._exact: dict[str, _Policy | None] | None = None
        self._prefixes: list[tuple[str, str, _Policy | None]] = []
        self._deny = _Policy({**base, "allow_origins": (), "allow_origin_regex": None})
        if paths is not None:
            self._paths(paths, base)

    def _paths(self, paths: Mapping[str, Mapping[str, Any]], base: dict[str, Any]) -> None:
        if not isinstance(paths, Mapping):
            raise TypeError("paths must be a mapping of path patterns to option dicts")
        self._exact = {}
        for pattern, options in paths.items():
            where = f"paths[{pattern!r}]: "
            if not isinstance(pattern, str) or not pattern.startswith("/"):
                raise ValueError(f"{where}a path pattern starts with '/'")
            if not isinstance(options, Mapping):
                raise TypeError(
                    f"{where}the options must be a mapping, e.g. {{'allow_origins': [...]}}"
                )
            unknown = sorted(set(options) - set(_OPTIONS))
            if unknown:
                raise TypeError(f"{where}unknown option(s) {unknown}; known: {list(_OPTIONS)}")
            policy = _Policy({**base, **options}, where)
            chosen = policy if policy.active else None
            if pattern.endswith("/*"):
                prefix = pattern[:-2]
                if "*" in prefix:
                    raise ValueError(f"{where}'*' is allowed only as a final '/*'")
                self._prefixes.append((prefix, prefix + "/", chosen))
            elif "*" in pattern:
                raise ValueError(f"{where}'*' is allowed only as a final '/*'")
            else:
                self._exact[pattern] = chosen
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def _select(self, path: str) -> _Policy | None:
        if "/." in path and _DOT_SEGMENT.search(path):
            # "/public/../private" could reach a private route under a public rule if anything
            # below normalises the path; such a path gets no CORS at all.
            return self._deny
        exact = self._exact
        if exact is not None and path in exact:
            return exact[path]
        for prefix, prefix_slash, policy in self._prefixes:
            if path == prefix or path.startswith(prefix_slash):
                return policy
        return self._policy

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        exact = self._exact
        policy = self._policy if exact is None else self._select(environ.get("PATH_INFO", ""))
        if policy is None:
            return self.app(environ, start_response)
        origin: str | None = environ.get("HTTP_ORIGIN")
        if (
            origin is not None
            and environ["REQUEST_METHOD"] == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        ):
            return self._preflight(policy, environ, origin, start_response)
        responder = _Actual(environ, start_response)
        responder.policy = policy
        responder.allow_origin = None if origin is None else policy.allow(origin)
        return responder.run(self.app)

    def _preflight(
        self,
        policy: _Policy,
        environ: WSGIEnvironment,
        origin: str,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        # Fetch, "CORS-preflight fetch": the browser needs an ok status, the origin echoed, the
        # method listed and every non-safelisted header it asked for listed.
        allow_origin = policy.allow(origin)
        method = environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"]
        if (
            allow_origin is None
            or not _TOKEN.fullmatch(method)
            or not (policy.any_method or method in policy.methods)
        ):
            start_response("403 Forbidden", [*_FORBIDDEN, ("Vary", policy.preflight_vary)])
            return []
        headers = [
            ("Access-Control-Allow-Origin", allow_origin),
            ("Access-Control-Allow-Methods", method if policy.any_method else policy.methods_value),
            *policy.preflight_headers,
        ]
        requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        if requested:
            allowed = policy.allow_headers(requested)
            if allowed:
                headers.append(("Access-Control-Allow-Headers", allowed))
        if (
            policy.private_network
            and environ.get("HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK", "").lower() == "true"
        ):
            headers.append(("Access-Control-Allow-Private-Network", "true"))
        headers.append(("Vary", policy.preflight_vary))
        start_response("204 No Content", headers)
        return []
