"""Start a real WSGI server (waitress or gunicorn) on 127.0.0.1 for end-to-end tests.

Usage::

    with serve("tests.e2e.apps:hello", server="gunicorn") as base_url:
        response = requests.get(base_url + "/")

The app is named ``"module:attribute"`` and imported in the server's own process, with the
project root on ``PYTHONPATH``.  The server runs on a free port, is waited for until it answers,
and is stopped by its process id (SIGTERM, then SIGKILL) when the block ends.  Every wait is
bounded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require(server: str) -> None:
    """Skip the test, with the reason, when ``server`` is not installed (gunicorn on Windows)."""
    if importlib.util.find_spec(server) is None:
        pytest.skip(f"{server} is not installed (it comes with the test extra)")


def _command(server: str, app: str, port: int, workers: int, threads: int) -> list[str]:
    if server == "waitress":
        return [
            sys.executable,
            "-m",
            "waitress",
            "--listen",
            f"127.0.0.1:{port}",
            f"--threads={threads}",
            app,
        ]
    if server == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            "2",
            "--log-level",
            "warning",
            app,
        ]
    raise ValueError(f"unknown server {server!r}")


@contextlib.contextmanager
def serve(
    app: str,
    *,
    server: str = "waitress",
    workers: int = 2,
    threads: int = 4,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[str]:
    """Serve ``app`` ("module:attribute") on a real server; yields ``http://127.0.0.1:PORT``."""
    require(server)
    with serve_command(
        lambda port: _command(server, app, port, workers, threads), env=env, cwd=cwd
    ) as base_url:
        yield base_url


def server_log(base_url: str) -> str:
    """What the server behind ``base_url`` has printed so far (for assertions on its logs)."""
    port = base_url.rsplit(":", 1)[1]
    for path in ROOT.glob(f".server-*-{port}.log"):
        return path.read_text(errors="replace")
    return ""


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} in {STARTUP_SECONDS}s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def serve_command(
    command: Callable[[int], list[str]],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[str]:
    """Run a server command line, ``command(port)``, on a free port; yields its base URL.

    For servers started by a command rather than an app name: ``middlewares serve CONFIG``,
    ``gunicorn --paste site.ini``.  Same environment, log file, waits and stop as :func:`serve`.
    """
    port = free_port()
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    environment.update(env or {})
    log = (cwd or ROOT) / f".server-command-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command(port), cwd=cwd or ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_listening(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
        with contextlib.suppress(OSError):
            log.unlink()
