"""Soak: the full stack under real servers, many clients, a mix of everything, then checks.

Serves :mod:`benchmarks.soak_app` (``examples.full_stack.full_stack`` around a small site) on
waitress (8 threads) and on gunicorn (2 workers, 4 threads each), on 127.0.0.1, and runs
``--clients`` concurrent clients (default 64) for ``--seconds`` per server (default 60), split
into two equal periods.  The mix: static files (whole, single ranges, conditional requests
answered 304), compressed pages (gzip, br, identity), server-sent event streams, CORS
preflights and cross-origin requests, a mounted app, an error the application itself returns
(503), and clients that close their socket midway through a body.  Every request carries its
own ``X-Request-ID``.  Afterwards it checks, and prints:

* no 5xx except the application's own 503 (seen by clients and in the access log);
* every request logged exactly once (the JSON access lines matched by request id; a request
  whose reused keep-alive connection failed before an answer may be logged at most once);
* no growth of open file descriptors or RSS of the server processes between the end of the
  first period and the end of the second (numbers printed; tolerance ``FD_SLACK`` and
  ``RSS_SLACK_MB`` plus ``RSS_SLACK_FRACTION``);
* every response body equal to the expected bytes after decoding its Content-Encoding.

Exits 1 if any check fails.  Run from the project root::

    python -m benchmarks.soak                      # both servers, 60 s each
    python -m benchmarks.soak --seconds 10 --server gunicorn
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import itertools
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import brotli

from benchmarks import soak_app
from tests.e2e.servers import ROOT, _command, _stop, _wait_until_listening, free_port

FD_SLACK = 10  # open descriptors come and go with connections; a leak grows without bound
RSS_SLACK_MB = 16.0
RSS_SLACK_FRACTION = 0.2
TIMEOUT = 10.0
ACCEPT_ENCODINGS = ("gzip", "br", "gzip, br", "br;q=0.5, gzip", "identity", "", "zstd, gzip;q=0.5")
# kind: weight in the mix
MIX = {
    "static": 14,
    "range": 14,
    "conditional": 10,
    "page": 14,
    "sse": 8,
    "preflight": 10,
    "mount": 8,
    "hello": 6,
    "app-error": 4,
    "disconnect": 8,
}
SERVERS = {"waitress": {"workers": 1, "threads": 8}, "gunicorn": {"workers": 2, "threads": 4}}


class Failure(Exception):
    """A response that is not what it should be."""


@dataclass
class Tally:
    """What the clients saw, shared by all client threads (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, str] = field(default_factory=dict)  # request id -> kind, answered
    uncertain: set[str] = field(default_factory=set)  # maybe never reached the server
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    bodies: int = 0

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)


def decode(body: bytes, coding: str | None) -> bytes:
    coding = (coding or "identity").strip().lower()
    if coding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if coding == "br":
        return bytes(brotli.decompress(body))
    if coding == "identity":
        return body
    raise Failure(f"unexpected Content-Encoding {coding!r}")


class Client:
    """One client: a keep-alive connection, fresh request ids, and the checks of each kind."""

    def __init__(self, host: str, port: int, index: int, tally: Tally, prefix: str) -> None:
        self.host, self.port = host, port
        self.tally = tally
        self.rng = random.Random(f"{prefix}-{index}")
        self.ids = (f"{prefix}-{index}-{n}" for n in itertools.count())
        self.connection: http.client.HTTPConnection | None = None
        self.files = soak_app.static_files()
        self.validators: dict[tuple[str, str], tuple[str, str]] = {}

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(
        self, kind: str, method: str, path: str, headers: dict[str, str]
    ) -> tuple[str, int, http.client.HTTPResponse, bytes]:
        """Send one request; on a reused connection the server closed, retry once, new id."""
        for attempt in range(2):
            rid = next(self.ids)
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            try:
                self.connection.request(method, path, headers={**headers, "X-Request-ID": rid})
                response = self.connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.close()
                if reused and attempt == 0:
                    with self.tally.lock:
                        self.tally.uncertain.add(rid)
                    continue
                raise
            if response.will_close:
                self.close()
            with self.tally.lock:
                self.tally.sent[rid] = kind
                self.tally.statuses[response.status] += 1
            if response.getheader("X-Request-ID") != rid:
                raise Failure(f"{rid}: X-Request-ID echoed as {response.getheader('X-Request-ID')}")
            if response.status >= 500 and kind != "app-error":
                raise Failure(f"{rid}: {method} {path} answered {response.status}")
            return rid, response.status, response, body
        raise AssertionError("unreachable")  # the loop returns or raises

    def expect(
        self, kind: str, method: str, path: str, headers: dict[str, str], status: int, data: bytes
    ) -> http.client.HTTPResponse:
        rid, got, response, body = self.request(kind, method, path, headers)
        if got != status:
            raise Failure(f"{rid}: {method} {path} {headers}: status {got}, expected {status}")
        decoded = decode(body, response.getheader("Content-Encoding"))
        if decoded != data:
            raise Failure(f"{rid}: {method} {path} {headers}: body differs ({len(decoded)} B)")
        with self.tally.lock:
            self.tally.bodies += 1
        return response

    def encoding(self) -> dict[str, str]:
        value = self.rng.choice(ACCEPT_ENCODINGS)
        return {"Accept-Encoding": value} if value else {}

    # The kinds of the mix, one method each.

    def static(self) -> None:
        name = self.rng.choice(["a.txt", "style.css", "app.js", "blob.bin"])
        self.expect("static", "GET", f"/static/{name}", self.encoding(), 200, self.files[name])

    def range(self) -> None:
        name = self.rng.choice(["blob.bin", "big.bin", "style.css"])
        data = self.files[name]
        if self.rng.random() < 0.2:
            length = self.rng.randint(1, 5000)
            spec, start, end = f"bytes=-{length}", len(data) - length, len(data) - 1
        else:
            start = self.rng.randrange(len(data))
            end = min(len(data) - 1, start + self.rng.randint(0, 200_000))
            spec = f"bytes={start}-{end}"
        response = self.expect(
            "range",
            "GET",
            f"/static/{name}",
            {"Range": spec, **self.encoding()},
            206,
            data[start : end + 1],
        )
        expected = f"bytes {start}-{end}/{len(data)}"
        if response.getheader("Content-Range") != expected:
            raise Failure(f"{spec}: Content-Range {response.getheader('Content-Range')}")

    def conditional(self) -> None:
        name = self.rng.choice(["a.txt", "style.css", "app.js", "blob.bin"])
        headers = self.encoding()
        key = (name, headers.get("Accept-Encoding", ""))
        if key not in self.validators:
            response = self.expect(
                "static", "GET", f"/static/{name}", headers, 200, self.files[name]
            )
            etag, modified = response.getheader("ETag"), response.getheader("Last-Modified")
            if not etag or not modified:
                raise Failure(f"/static/{name}: no ETag or Last-Modified")
            self.validators[key] = (etag, modified)
        etag, modified = self.validators[key]
        condition = (
            {"If-None-Match": etag} if self.rng.random() < 0.7 else {"If-Modified-Since": modified}
        )
        self.expect("conditional", "GET", f"/static/{name}", {**headers, **condition}, 304, b"")

    def page(self) -> None:
        self.expect("page", "GET", "/page", self.encoding(), 200, soak_app.PAGE)

    def sse(self) -> None:
        response = self.expect("sse", "GET", "/sse", self.encoding(), 200, soak_app.sse_body())
        if not (response.getheader("Content-Type") or "").startswith("text/event-stream"):
            raise Failure(f"/sse: Content-Type {response.getheader('Content-Type')}")

    def preflight(self) -> None:
        headers = {
            "Origin": soak_app.ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-custom",
        }
        rid, status, response, body = self.request("preflight", "OPTIONS", "/api/items", headers)
        if status not in (200, 204) or body:
            raise Failure(f"{rid}: preflight answered {status} with {len(body)} bytes")
        self._allowed(rid, response)

    def mount(self) -> None:
        data = json.dumps({"script_name": "/api", "path_info": "/info"}).encode()
        headers = {"Origin": soak_app.ORIGIN, **self.encoding()}
        response = self.expect("mount", "GET", "/api/info?x=1", headers, 200, data)
        self._allowed("/api/info", response)

    def hello(self) -> None:
        self.expect("hello", "GET", "/", self.encoding(), 200, b"Hello, world!")

    def app_error(self) -> None:
        headers = {"Origin": soak_app.ORIGIN, **self.encoding()}
        response = self.expect("app-error", "GET", "/app-error", headers, 503, soak_app.ERROR_BODY)
        self._allowed("/app-error", response)  # CORS headers land on errors too

    def disconnect(self) -> None:
        """A raw socket that sends a whole request, reads part of the answer, and goes away."""
        path = self.rng.choice(["/stream", "/static/big.bin", "/sse", "/page"])
        rid = next(self.ids)
        # Connection: close, so an answer shorter than what we mean to read ends with EOF.
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {rid}\r\n"
            f"Accept-Encoding: {self.rng.choice(['gzip', 'br', 'identity'])}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        want = self.rng.randint(1, 8 * 1024)
        received = b""
        with socket.create_connection((self.host, self.port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            with self.tally.lock:  # sent whole: the server must log it exactly once
                self.tally.sent[rid] = "disconnect"
            while len(received) < want:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
            if self.rng.random() < 0.5:  # half of them reset the connection instead of a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        status_line = received.split(b"\r\n", 1)[0].split()
        if len(status_line) < 2 or not status_line[1].isdigit():
            raise Failure(f"{rid}: disconnect from {path}: no status line in {received[:40]!r}")
        with self.tally.lock:
            self.tally.statuses[int(status_line[1])] += 1
        if status_line[1].startswith(b"5"):
            raise Failure(f"{rid}: {path} answered {status_line[1]!r}")

    def _allowed(self, what: str, response: http.client.HTTPResponse) -> None:
        allowed = response.getheader("Access-Control-Allow-Origin")
        if allowed != soak_app.ORIGIN:
            raise Failure(f"{what}: Access-Control-Allow-Origin {allowed!r}")

    def run(self, deadline: float) -> None:
        actions: dict[str, Callable[[], None]] = {
            "static": self.static,
            "range": self.range,
            "conditional": self.conditional,
            "page": self.page,
            "sse": self.sse,
            "preflight": self.preflight,
            "mount": self.mount,
            "hello": self.hello,
            "app-error": self.app_error,
            "disconnect": self.disconnect,
        }
        kinds, weights = list(MIX), list(MIX.values())
        try:
            while time.monotonic() < deadline:
                kind = self.rng.choices(kinds, weights)[0]
                try:
                    actions[kind]()
                except (Failure, OSError, http.client.HTTPException, zlib.error) as error:
                    self.tally.fail(f"{kind}: {type(error).__name__}: {error}")
                    self.close()
                with self.tally.lock:
                    self.tally.kinds[kind] += 1
        finally:
            self.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(child) for child in path.read_text().split()]
    return []


def _usage(pid: int) -> tuple[int, float]:
    """(open file descriptors, RSS in MB) of one process, from /proc."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return fds, int(line.split()[1]) / 1024
    return fds, float("nan")


def _server_pids(process: subprocess.Popen[bytes], workers: int, server: str) -> list[int]:
    if server != "gunicorn":
        return [process.pid]
    deadline = time.monotonic() + 20
    while len(_children(process.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    return [process.pid, *_children(process.pid)]


def _period(port: int, clients: int, seconds: float, tally: Tally, prefix: str) -> None:
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=Client("127.0.0.1", port, i, tally, prefix).run, args=(deadline,), daemon=True
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 3 * TIMEOUT)
    if any(thread.is_alive() for thread in threads):
        tally.fail("a client thread did not finish in time")
    time.sleep(1.0)  # let the server close the connections the clients closed


def _read_log(
    directory: Path, tally: Tally
) -> tuple[collections.Counter[str], int, collections.Counter[str]]:
    """(request id -> times logged, lines, outcomes); checks every line parses, and its status."""
    logged: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    lines = 0
    for path in sorted(directory.glob("access-*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            lines += 1
            try:
                record = json.loads(line)
            except ValueError:
                tally.failures.append(f"access log line is not JSON: {line[:120]!r}")
                continue
            logged[record["request_id"]] += 1
            outcomes[record["outcome"]] += 1
            status = record["http.response.status_code"]
            if status >= 500 and record["url.path"] != "/app-error":
                tally.failures.append(f"access log: {status} for {record['url.path']}: {line}")
    return logged, lines, outcomes


def _wait_for_log(directory: Path, tally: Tally, seconds: float = 10.0) -> None:
    """Disconnected streams are logged when the server notices; give it a bounded moment."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        logged: set[str] = set()
        for path in directory.glob("access-*.log"):
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError):
                    logged.add(json.loads(line)["request_id"])
        if logged >= set(tally.sent):
            return
        time.sleep(0.25)


def soak(server: str, seconds: float, clients: int) -> bool:
    settings = SERVERS[server]
    title = f"{server} ({settings['workers']} process(es) x {settings['threads']} threads)"
    print(f"\n== {title}: {clients} clients, 2 periods of {seconds / 2:.1f} s", flush=True)
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        directory = Path(tmp)
        soak_app.make_static(directory / "static")
        port = free_port()
        env = {**os.environ, "SOAK_ROOT": tmp}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        command = _command(
            server,
            "benchmarks.soak_app:application",
            port,
            settings["workers"],
            settings["threads"],
        )
        log = directory / "server.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        usage: list[dict[int, tuple[int, float]]] = []
        try:
            _wait_until_listening(port, process, log)
            pids = _server_pids(process, settings["workers"], server)
            for period in (1, 2):
                _period(port, clients, seconds / 2, tally, f"soak-{server}-p{period}")
                usage.append({pid: _usage(pid) for pid in pids})
            _wait_for_log(directory, tally)
            alive = _server_pids(process, settings["workers"], server)
        finally:
            _stop(process)
        logged, lines, outcomes = _read_log(directory, tally)
        server_output = log.read_text(errors="replace")
    print(f"log outcomes: {', '.join(f'{k} {n}' for k, n in sorted(outcomes.items()))}")
    return _report(tally, logged, lines, usage, pids, alive, server_output)


def _report(
    tally: Tally,
    logged: collections.Counter[str],
    lines: int,
    usage: list[dict[int, tuple[int, float]]],
    pids: list[int],
    alive: list[int],
    server_output: str,
) -> bool:
    failures = tally.failures
    total = sum(tally.kinds.values())
    print(f"requests: {total} ({', '.join(f'{k} {n}' for k, n in sorted(tally.kinds.items()))})")
    print(f"statuses: {', '.join(f'{s}: {n}' for s, n in sorted(tally.statuses.items()))}")
    print(f"bodies compared after decoding: {tally.bodies}")
    missing = [rid for rid in tally.sent if logged[rid] == 0]
    repeated = [rid for rid in tally.sent if logged[rid] > 1]
    unknown = [rid for rid in logged if rid not in tally.sent and rid not in tally.uncertain]
    uncertain_twice = [rid for rid in tally.uncertain if logged[rid] > 1]
    print(
        f"access log: {lines} lines; {len(tally.sent)} answered ids, missing {len(missing)}, "
        f"logged more than once {len(repeated) + len(uncertain_twice)}, unknown {len(unknown)}; "
        f"{len(tally.uncertain)} retried on a closed keep-alive connection"
    )
    failures += [f"request id {rid} not logged ({tally.sent[rid]})" for rid in missing[:5]]
    failures += [f"request id {rid} logged {logged[rid]} times" for rid in repeated[:5]]
    failures += [f"request id {rid} logged {logged[rid]} times" for rid in uncertain_twice[:5]]
    failures += [f"unknown request id {rid} in the log" for rid in unknown[:5]]
    if sorted(pids) != sorted(alive):
        failures.append(f"server processes changed: {pids} -> {alive} (a worker died?)")
    print(f"{'pid':>8}{'fds p1':>8}{'fds p2':>8}{'RSS p1 MB':>11}{'RSS p2 MB':>11}{'growth':>9}")
    for pid in pids:
        (fd1, rss1), (fd2, rss2) = usage[0][pid], usage[1][pid]
        print(f"{pid:>8}{fd1:>8}{fd2:>8}{rss1:>11.1f}{rss2:>11.1f}{rss2 - rss1:>+9.1f}")
        if fd2 - fd1 > FD_SLACK:
            failures.append(f"pid {pid}: open descriptors grew {fd1} -> {fd2}")
        if rss2 - rss1 > RSS_SLACK_MB + RSS_SLACK_FRACTION * rss1:
            failures.append(f"pid {pid}: RSS grew {rss1:.1f} -> {rss2:.1f} MB")
    for marker in ("Traceback", "[CRITICAL]", "WORKER TIMEOUT"):
        if marker in server_output:
            failures.append(f"the server printed {marker!r}:\n{server_output[-3000:]}")
            break
    if failures:
        print(f"FAIL: {len(failures)} problem(s); the first ones:")
        for line in failures[:20]:
            print(f"  {line}")
        return False
    print("PASS: no unexpected 5xx, every request logged once, no fd/RSS growth, bodies correct")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    parser.add_argument("--seconds", type=float, default=60.0, help="per server, two periods")
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args(argv)
    servers = list(SERVERS) if args.server == "both" else [args.server]
    results = [soak(server, args.seconds, args.clients) for server in servers]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
