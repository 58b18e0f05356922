"""The examples, served by real servers (waitress; gunicorn with 2 workers), with a real client."""

from __future__ import annotations

import ast
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests

from tests.e2e.servers import ROOT, free_port, require, serve, serve_command, server_log

pytestmark = pytest.mark.e2e

TIMEOUT = 10
SERVERS = {
    "waitress": [],
    "gunicorn": ["--server", "gunicorn", "--workers", "2"],
}
TOKEN = "e2e-profiler-token-0123456789"


def middlewares_serve(config: str, server: str) -> Callable[[int], list[str]]:
    """The command line ``python -m middlewares serve CONFIG`` on a given port."""
    require(server)
    return lambda port: [
        sys.executable,
        *("-m", "middlewares", "serve", config, "--port", str(port)),
        *SERVERS[server],
    ]


def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --- examples/demo.toml: the README's demo, all seven middlewares -----------------------------


@pytest.mark.parametrize("server", list(SERVERS))
def test_demo_page_shows_every_middleware_at_work(server: str) -> None:
    env = {"PROFILER_TOKEN": TOKEN, "DEMO_ORIGIN": "https://app.example"}
    with serve_command(middlewares_serve("examples/demo.toml", server), env=env) as base:
        page = requests.get(
            base + "/",
            headers={"X-Forwarded-For": "203.0.113.7", "Accept-Encoding": "br, gzip"},
            timeout=TIMEOUT,
        )
        # ProxyFix believed the proxy on 127.0.0.1; Compress chose br; RequestLogger's id.
        assert page.status_code == 200
        assert '<td id="client">203.0.113.7</td>' in page.text
        assert '<td id="peer">127.0.0.1</td>' in page.text
        assert page.headers["Content-Encoding"] == "br"
        request_id = page.headers["X-Request-ID"]
        assert f'<td id="request-id">{request_id}</td>' in page.text

        # StaticFiles: caching headers, then a conditional request answered 304.
        css = requests.get(base + "/static/demo.css", timeout=TIMEOUT)
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert "max-age=3600" in css.headers["Cache-Control"]
        again = requests.get(
            base + "/static/demo.css", headers={"If-None-Match": css.headers["ETag"]}, timeout=10
        )
        assert again.status_code == 304

        # Dispatcher mounts /api; CORS answers the configured origin only.
        api = requests.get(
            base + "/api/hello", headers={"Origin": "https://app.example"}, timeout=TIMEOUT
        )
        assert api.json()["mounted_at"] == "/api"
        assert api.headers["Access-Control-Allow-Origin"] == "https://app.example"
        other = requests.get(
            base + "/api/hello", headers={"Origin": "https://evil.example"}, timeout=TIMEOUT
        )
        assert "Access-Control-Allow-Origin" not in other.headers
        preflight = requests.options(
            base + "/api/hello",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
            timeout=TIMEOUT,
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"

        # Profiler: only the request carrying the token is profiled, into the server's log.
        assert "function calls" not in server_log(base)
        requests.get(base + "/", headers={"X-Profile": TOKEN}, timeout=TIMEOUT)
        assert wait_for(lambda: "function calls" in server_log(base))
        # RequestLogger's access lines, with the id it sent back.
        assert wait_for(lambda: request_id in server_log(base))
        log = server_log(base)
    assert "examples/demo.toml: 7 layers, outermost first" in log
    assert "viewer_token = '***'" in log
    assert TOKEN not in log.split("Serving on")[0]  # the stack printed, the secret not
    assert "Serving on http://127.0.0.1:" in log


def test_check_validates_the_demo() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "middlewares", "check", "examples/demo.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.findall(r"^  \d+\. (\w+) ", done.stdout, re.MULTILINE) == [
        "proxy_fix",
        "request_log",
        "cors",
        "compress",
        "static",
        "dispatcher",
        "profiler",
    ]
    assert lines[-1] == "OK"


@pytest.mark.parametrize(
    ("server", "signum"),
    [
        pytest.param("waitress", signal.SIGINT, id="waitress-ctrl-c"),
        pytest.param("waitress", signal.SIGTERM, id="waitress-sigterm"),
        pytest.param("gunicorn", signal.SIGINT, id="gunicorn-ctrl-c"),
    ],
)
def test_serve_stops_cleanly_on_ctrl_c_and_sigterm(server: str, signum: int) -> None:
    port = free_port()
    process = subprocess.Popen(
        middlewares_serve("examples/demo.toml", server)(port),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"

        def answers() -> bool:
            try:
                return requests.get(url, timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        assert wait_for(answers, 20), "the server did not answer"
        process.send_signal(signum)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, output
    assert "Traceback" not in output


# --- examples/several_apps.toml: Flask + Django + a static site in one process ----------------


@pytest.mark.parametrize("server", list(SERVERS))
def test_several_apps_share_one_process(server: str) -> None:
    with serve_command(middlewares_serve("examples/several_apps.toml", server)) as base:
        home = requests.get(base + "/", timeout=TIMEOUT)
        assert home.status_code == 200
        assert "<h1>A static site</h1>" in home.text
        assert "max-age=600" in home.headers["Cache-Control"]

        flask = requests.get(base + "/flask/", timeout=TIMEOUT)
        assert flask.status_code == 200
        assert "<h1>Flask home</h1>" in flask.text
        assert 'href="/flask/about"' in flask.text  # url_for carries the mount prefix

        django = requests.get(base + "/django/about/", timeout=TIMEOUT)
        assert django.status_code == 200
        assert 'href="/django/"' in django.text  # Django's reverse() too
        assert requests.get(base + "/nothing-here", timeout=TIMEOUT).status_code == 404
        assert wait_for(lambda: '"GET /django/about/ HTTP/1.1" 200' in server_log(base))


# --- examples/flask_stack.py and examples/django_wsgi.py: stacks written in code ---------------


def suggested_command(example: str, server: str) -> Callable[[int], list[str]]:
    """The command line an example's docstring suggests for ``server``, on 127.0.0.1:port."""
    require(server)
    doc = ast.get_docstring(ast.parse((ROOT / example).read_text(encoding="utf-8"))) or ""
    program = {"waitress": "waitress-serve", "gunicorn": "gunicorn"}[server]
    lines = [line.split() for line in doc.splitlines() if line.split()[:1] == [program]]
    assert len(lines) == 1, f"{example} suggests no single {program} command"
    options = lines[0][1:]  # the suggested options and app, plus only the address below
    address = "--listen" if server == "waitress" else "--bind"
    return lambda port: [sys.executable, "-m", server, f"{address}=127.0.0.1:{port}", *options]


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


@pytest.mark.parametrize("server", list(SERVERS))
def test_flask_app_wrapped_in_code(server: str) -> None:
    # Served by the example's own command: ProxyFix sees the headers, the access lines appear.
    with serve_command(suggested_command("examples/flask_stack.py", server)) as base:
        page = requests.get(
            base + "/", headers={**FORWARDED, "Origin": "https://app.example"}, timeout=TIMEOUT
        )
        assert page.status_code == 200
        assert "<h1>Flask home</h1>" in page.text
        assert page.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert 'href="https://127.0.0.1:' in page.text  # ProxyFix: the proxy's scheme
        request_id = page.headers["X-Request-ID"]
        assert wait_for(lambda: request_id in server_log(base))
        access = [line for line in server_log(base).splitlines() if request_id in line]
        assert access[0].startswith("203.0.113.7 - - ["), access  # ProxyFix: the client


@pytest.mark.parametrize("server", list(SERVERS))
def test_django_wsgi_wrapped_in_code(server: str) -> None:
    with serve_command(suggested_command("examples/django_wsgi.py", server)) as base:
        page = requests.get(
            base + "/", headers={**FORWARDED, "Accept-Encoding": "gzip"}, timeout=TIMEOUT
        )
        assert page.status_code == 200
        assert 'href="https://127.0.0.1:' in page.text  # build_absolute_uri: ProxyFix's scheme
        request_id = page.headers["X-Request-ID"]
        css = requests.get(
            base + "/static/demo.css", headers={"Accept-Encoding": "gzip"}, timeout=TIMEOUT
        )
        assert css.status_code == 200
        assert "max-age=3600" in css.headers["Cache-Control"]
        assert css.headers["Content-Encoding"] == "gzip"  # Compress covers StaticFiles
        assert wait_for(lambda: request_id in server_log(base))
        access = [line for line in server_log(base).splitlines() if request_id in line]
        assert access[0].startswith("203.0.113.7 - - ["), access


# --- examples/site.ini: PasteDeploy, under gunicorn --paste and paste.deploy.loadapp ----------


def _check_site(base: str) -> None:
    page = requests.get(
        base + "/", headers={"Accept-Encoding": "gzip", "Origin": "https://app.example"}, timeout=10
    )
    assert page.status_code == 200
    assert "<h1>middlewares demo</h1>" in page.text
    assert page.headers["Content-Encoding"] == "gzip"
    assert page.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert page.headers["Access-Control-Expose-Headers"] == "X-Request-ID"
    assert f'<td id="request-id">{page.headers["X-Request-ID"]}</td>' in page.text
    css = requests.get(base + "/static/demo.css", timeout=TIMEOUT)
    assert "max-age=3600" in css.headers["Cache-Control"]


def test_site_ini_under_gunicorn_paste() -> None:
    require("gunicorn")
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--paste", "examples/site.ini"]
    with serve_command(lambda port: [*command, "--bind", f"127.0.0.1:{port}"]) as base:
        _check_site(base)
        page = requests.get(base + "/", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
        assert '<td id="client">203.0.113.9</td>' in page.text


def test_site_ini_loaded_by_paste_deploy_under_waitress() -> None:
    with serve("tests.e2e.examples_apps:site", server="waitress") as base:
        _check_site(base)
