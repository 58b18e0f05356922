"""``Dispatcher``: several WSGI applications in one process, chosen by host and path prefix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from ._wsgi import import_string
from .stack import describe

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Dispatcher", "Route"]

_NOT_FOUND = b"Not Found\n"
_NOT_FOUND_HEADERS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Length", str(len(_NOT_FOUND))),
]
_EMPTY_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "0")]
# A host key after lower-casing and IDNA: a DNS name (optionally "*." first) or an IPv6 literal.
_HOST_KEY = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\]")
# RFC 3986 pchar delimiters stay as they are in a redirect's Location; the rest is %-encoded.
_PATH_SAFE = "/:@!$&'()*+,;="


class Route(NamedTuple):
    """One entry of :meth:`Dispatcher.routes`."""

    host: str | None  #: ``"api.example.com"``, ``"*.example.com"``, or ``None`` for any host
    path: str  #: the mount as a URL shows it (nested dispatchers joined); ``"/"`` for a default
    app: Any  #: the WSGI application, or ``None`` for the plain 404


class _Table:
    """The mounts of one host (or of every other host): a dict keyed by the whole prefix.

    A prefix's depth is its number of segments.  A request tries at most as many prefixes of its
    own path as the deepest mount has segments, longest first, one dict lookup each, whatever
    the number of mounts.
    """

    __slots__ = ("cut", "default", "listing", "prefixes", "route")

    def __init__(
        self, mounts: Mapping[str, Any], default: WSGIApplication | None, option: str
    ) -> None:
        if not isinstance(mounts, Mapping):
            raise TypeError(f"{option} must be a mapping of path prefix to app, not {mounts!r}")
        self.prefixes: dict[str, WSGIApplication] = {}
        self.listing: list[tuple[str, WSGIApplication | None]] = []
        self.default: WSGIApplication | None = default
        seen: dict[str, str] = {}
        for key, value in mounts.items():
            where = f"{option}[{key!r}]"
            text = _mount_key(key, where)
            if text in seen:
                raise ValueError(
                    f"{where} is the same mount as {seen[text]!r} once normalised ({text or '/'!r})"
                )
            seen[text] = key
            app = _resolve(value, where)
            if text == "":
                if default is not None:
                    raise ValueError(f"{where} and app are both the default application; keep one")
                self.default = app
                continue
            # PEP 3333: PATH_INFO holds the URL's bytes decoded as latin-1, so a mount written as
            # text is matched in that same form (UTF-8 bytes seen as latin-1).
            self.prefixes[text.encode("utf-8").decode("latin-1")] = app
            self.listing.append((text, app))
        self.listing.sort(key=lambda item: (-item[0].count("/"), item[0]))
        self.listing.append(("/", self.default))
        # "/a/b".split("/", cut) with cut = max depth + 1 leaves the segments below in its last
        # item: ["", "a", "b", "rest/of/path"].
        self.cut = max((prefix.count("/") for prefix in self.prefixes), default=0) + 1
        self.route = (self.prefixes, self.cut, self.default)  # one load per request


def _mount_key(key: object, where: str) -> str:
    """A mount key normalised: ``"/api/"`` -> ``"/api"``, ``"/"`` -> ``""`` (the default)."""
    if not isinstance(key, str):
        raise TypeError(f"{where}: a mount key is a path string like '/api'")
    if not key.startswith("/"):
        raise ValueError(f"{where}: a mount key is an absolute path; write '/{key}'")
    text = key.rstrip("/")
    for segment in text.split("/")[1:]:
        if segment in ("", ".", ".."):
            raise ValueError(
                f"{where}: empty, '.' and '..' segments never match a request; remove them"
            )
        if "?" in segment or "#" in segment:
            raise ValueError(f"{where}: a mount is a path; '?' and '#' are not part of it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: the mount is not valid text ({exc})") from exc
    return text


def _host_key(key: object, where: str) -> str:
    """A host key normalised: lower case, IDNA, no trailing dot; a port is an error."""
    if not isinstance(key, str):
        raise TypeError(f"{where}: a host key is a host name string like 'api.example.com'")
    text = key.strip().lower().rstrip(".")
    try:
        text = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError as exc:
        raise ValueError(f"{where}: not a valid host name ({exc})") from exc
    if not _HOST_KEY.fullmatch(text):
        raise ValueError(
            f"{where}: write a host name ('example.com', '*.example.com' or '[::1]'); "
            "ports are ignored when matching, so leave them out"
        )
    return text


def _resolve(value: object, where: str) -> Any:
    """``value``, or the object a ``"module:attribute"`` string names; it must be callable."""
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
    if not callable(value):
        raise TypeError(f"{where}: {value!r} is not a WSGI application (it is not callable)")
    return value


def _not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    # The same few bytes whatever was asked: nothing about the mounts leaks (unlike Paste's
    # URLMap, whose 404 page lists them).
    start_response("404 Not Found", list(_NOT_FOUND_HEADERS))
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else _NOT_FOUND]


class Dispatcher:
    """Route each request to one of several WSGI applications by host name and path prefix.

    A path mount matches whole segments, longest first: ``/api`` takes ``/api`` and ``/api/x``,
    never ``/apix``.  The matched prefix is appended to ``SCRIPT_NAME`` and the rest stays in
    ``PATH_INFO`` (``/api`` exactly leaves ``PATH_INFO`` empty), so a mounted framework builds
    its URLs with the prefix.  A mount written with a trailing slash is normalised
    (``"/api/"`` is ``"/api"``); ``"/"`` names the default application.  Matching is literal
    on the path the server decoded, which is exactly what the chosen app sees: ``//`` is an
    empty segment (``//api`` is not ``/api``; ``/api//x`` goes to ``/api`` with ``//x``), an
    encoded ``%2F`` arrives decoded as ``/`` (PEP 3333) and counts as one, and ``..`` is never
    resolved, so ``/public/../admin`` reaches the ``/public`` app, never ``/admin``.

    Security: the host comes from ``HTTP_HOST``, which the client writes; put ``ProxyFix``
    outside only behind a proxy you trust, and do not treat host dispatch as access control.
    The 404 for unmatched requests with ``app=None`` reveals nothing about the mounts.

    Usage::

        app = Dispatcher(site, mounts={"/api": api_app, "/admin": "admin.wsgi:application"},
                         hosts={"*.static.example.com": static_app})

    :param app: the application for requests no mount matches; ``None`` answers a plain 404.
    :param mounts: path prefix -> application, or a ``"module:attribute"`` string imported
        now.  Keys are absolute paths; ``"/"`` stands for ``app``.
    :param hosts: host name -> application, or -> a mounts mapping of its own (its ``"/"`` key
        is its default; without one, what it does not match gets the 404, not ``app``).
        Matching ignores case, a trailing dot and the port; ``"*.example.com"`` matches every
        subdomain (not ``example.com`` itself), the most specific name winning.  Other hosts
        use ``mounts`` and ``app``.
    :param redirect_slash: answer a request for a mount exactly (``/api``) with a 308 to
        ``/api/`` (query kept) instead of calling the app with an empty ``PATH_INFO``.
    """

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        mounts: Mapping[str, WSGIApplication | str] | None = None,
        hosts: Mapping[str, WSGIApplication | str | Mapping[str, WSGIApplication | str]]
        | None = None,
        redirect_slash: bool = False,
    ) -> None:
        if app is not None and not callable(app):
            raise TypeError(f"app must be a WSGI application or None, not {app!r}")
        if not isinstance(redirect_slash, bool):
            raise TypeError(f"redirect_slash must be True or False, not {redirect_slash!r}")
        self.app = app
        self.redirect_slash = redirect_slash
        self._root = _Table(mounts or {}, app, "mounts")
        self._exact: dict[str, _Table] = {}
        self._wildcards: dict[str, _Table] = {}  # "*.example.com" stored as "example.com"
        self._host_names: list[str] = []
        if hosts is not None and not isinstance(hosts, Mapping):
            raise TypeError(f"hosts must be a mapping of host name to app or mounts, not {hosts!r}")
        for key, value in (hosts or {}).items():
            where = f"hosts[{key!r}]"
            name = _host_key(key, where)
            table = (
                _Table(value, None, where)
                if isinstance(value, Mapping)
                else _Table({}, _resolve(value, where), where)
            )
            target, bare = (
                (self._wildcards, name[2:]) if name.startswith("*.") else (self._exact, name)
            )
            if bare in target:
                raise ValueError(f"{where} repeats a host already given (as {name!r})")
            target[bare] = table
            self._host_names.append(name)
        self._has_hosts = bool(self._exact or self._wildcards)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        table = self._table_for_host(environ) if self._has_hosts else self._root
        prefixes, cut, default = table.route
        path: str = environ.get("PATH_INFO", "")
        if prefixes:
            # Cut the path after its first `depth` segments (one C-level split), then try that
            # prefix and each shorter one, longest first: one dict lookup per depth, however
            # many mounts.  A path without its leading "/" never equals a key, so it falls
            # through to the default unchanged, as "" (the root) does.
            parts = path.split("/", cut)
            end = len(path) - len(parts[-1]) - 1 if len(parts) > cut else len(path)
            while end > 0:
                prefix = path[:end]
                app = prefixes.get(prefix)
                if app is not None:
                    rest = path[end:]
                    if not rest and self.redirect_slash:
                        return self._redirect(environ, start_response, path)
                    # PEP 3333: SCRIPT_NAME + PATH_INFO is the whole path; move the prefix
                    # across, appending so an outer mount is kept.
                    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                    environ["PATH_INFO"] = rest
                    return app(environ, start_response)
                end = path.rfind("/", 0, end)
        if default is None:
            return _not_found(environ, start_response)
        return default(environ, start_response)

    def _table_for_host(self, environ: WSGIEnvironment) -> _Table:
        # PEP 3333 URL reconstruction: HTTP_HOST first, SERVER_NAME without it.
        host: str = (environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or "").lower()
        # The port goes; in an IPv6 literal it follows "]" (RFC 3986 section 3.2.2).
        host = host[: host.find("]") + 1] if host[:1] == "[" else host.partition(":")[0]
        host = host.rstrip(".")  # "example.com." names the same host (RFC 1034 section 3.1)
        table = self._exact.get(host)
        if table is not None:
            return table
        if self._wildcards:
            dot = host.find(".", 1)
            while dot > 0:  # the most specific suffix first
                table = self._wildcards.get(host[dot + 1 :])
                if table is not None:
                    return table
                dot = host.find(".", dot + 1)
        return self._root

    @staticmethod
    def _redirect(
        environ: WSGIEnvironment, start_response: StartResponse, path: str
    ) -> Iterable[bytes]:
        # 308 keeps the method and body (RFC 9110 section 15.4.9); a path-absolute Location is
        # allowed (section 10.2.2).  The environ holds latin-1 text of the raw bytes (PEP 3333),
        # so it is %-encoded back from latin-1.
        location = quote(environ.get("SCRIPT_NAME", "") + path, _PATH_SAFE, "latin-1") + "/"
        if location[:2] == "//":  # "//host" would be another site (RFC 3986 section 4.2)
            location = "/" + location.lstrip("/")
        query: str = environ.get("QUERY_STRING", "")
        if query:
            location += "?" + quote(query, _PATH_SAFE + "?%", "latin-1")
        start_response("308 Permanent Redirect", [("Location", location), *_EMPTY_HEADERS])
        return [b""]

    def routes(self) -> list[Route]:
        """Every route, in the order a request tries them; nested dispatchers follow their mount.

        Host tables come first (exact names, then wildcards, most specific first), each longest
        path first and its default last; then the other hosts' mounts and ``app``.  A mounted
        ``Dispatcher`` is listed, then its own routes with the mount prepended, so the outermost
        comes first.
        """
        result: list[Route] = []
        tables = [(name, self._host_table(name)) for name in self._host_names]
        # Exact names first, then wildcards from the most specific, as _table_for_host tries them.
        tables.sort(key=lambda item: (item[0].startswith("*."), -item[0].count(".")))
        for host, table in [*tables, (None, self._root)]:
            for path, app in table.listing:
                result.append(Route(host, path, app))
                if isinstance(app, Dispatcher):
                    base = "" if path == "/" else path
                    for inner in app.routes():
                        inner_path = base + inner.path if inner.path != "/" else path
                        result.append(Route(inner.host or host, inner_path, inner.app))
        return result

    def _host_table(self, name: str) -> _Table:
        return self._wildcards[name[2:]] if name.startswith("*.") else self._exact[name]

    def __repr__(self) -> str:
        def names(items: list[str]) -> str:
            shown = ", ".join(repr(item) for item in items[:5])
            return f"[{shown}, ... {len(items)} in all]" if len(items) > 5 else f"[{shown}]"

        parts = [f"app={describe(self.app) if self.app is not None else None}"]
        mounts = [path for path, _ in self._root.listing if path != "/"]
        if mounts:
            parts.append(f"mounts={names(mounts)}")
        if self._host_names:
            parts.append(f"hosts={names(self._host_names)}")
        if self.redirect_slash:
            parts.append("redirect_slash=True")
        return f"<Dispatcher {' '.join(parts)}>"
