"""Profiler: whole-request profiles, every output format in its consumer, sampling, triggers,
the busy profiler, the viewer's token and escaping, and close() exactly once on every path."""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import random
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from webtest import TestApp

from middlewares._profile_formats import call_tree
from middlewares.compress import Compress
from middlewares.dispatch import Dispatcher
from middlewares.profiler import FORMATS, Profiler, _reseed
from middlewares.request_log import RequestLogger
from tests.wsgi_helpers import Body, LogCapture, closes, drive, make_app

# wsgiref.validate warns about the hostile method the viewer tests send on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")

TOKEN = "s3cret-token-0123456789"
FORMS = ["list", "generator", "write", "file_wrapper"]
HOSTILE_PATH = "/<script>alert('p')</script>/\"q\"&amp"
HOSTILE_METHOD = "<img src=x onerror=alert(1)>"


def render_rows(n: int) -> bytes:
    return json.dumps([{"id": i, "name": f"row {i}"} for i in range(n)]).encode()


def cleanup_resources() -> None:
    sum(range(100))


class RowsBody:
    """A body whose chunks are produced by app code while the server iterates it."""

    def __init__(self) -> None:
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(3):
            yield render_rows(20)

    def close(self) -> None:
        self.closed += 1
        cleanup_resources()


def rows_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return RowsBody()


def files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def only(directory: Path, ext: str) -> Path:
    found = [name for name in files(directory) if name.endswith(ext)]
    assert len(found) == 1, found
    return directory / found[0]


# --- the whole request is profiled, streamed, closed once ------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_every_body_form_passes_through_profiled_and_closed_once(form: str) -> None:
    app, record = make_app(form, [b"alpha ", b"beta"])
    stream = io.StringIO()
    profiler = Profiler(app, stream=stream)
    result = drive(profiler)
    assert result.status == "200 OK"
    assert result.body == b"alpha beta"
    assert closes(record) == 1
    assert profiler.profiled == 1
    assert "function calls" in stream.getvalue()


def test_file_wrapper_body_keeps_the_servers_wrapper_class() -> None:
    app, _record = make_app("file_wrapper", [b"data"])
    result = drive(Profiler(app, stream=io.StringIO()), validate=False)
    assert type(result.server_body).__name__ == "FileWrapper"


def test_profile_covers_body_iteration_and_close(tmp_path: Path) -> None:
    profiler = Profiler(rows_app, profile_dir=tmp_path)
    drive(profiler)
    names = {func[2] for func in pstats.Stats(str(only(tmp_path, ".prof"))).stats}  # type: ignore[attr-defined]
    assert {"rows_app", "render_rows", "cleanup_resources"} <= names


def test_body_is_streamed_not_buffered() -> None:
    produced: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])

        def chunks() -> Iterator[bytes]:
            for i in range(3):
                produced.append(i)
                yield b"x"

        return Body(chunks())

    env = {"wsgi.errors": io.StringIO()}
    result = drive(Profiler(app, stream=io.StringIO()), environ=env, stop_after=1)
    assert result.body == b"x"
    assert produced == [0]  # the second chunk was never asked for


def test_app_raising_ends_the_profile_and_releases_the_profiler() -> None:
    stream = io.StringIO()

    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("app failed")

    profiler = Profiler(broken, stream=stream)
    with pytest.raises(RuntimeError, match="app failed"):
        drive(profiler)
    assert profiler.profiled == 1
    app, _record = make_app("list", [b"ok"])
    after = Profiler(app, stream=stream)
    drive(after)
    assert after.profiled == 1
    assert after.skipped_busy == 0


@pytest.mark.parametrize(
    ("raise_at", "close_raises"),
    [pytest.param(1, False, id="body-raises"), pytest.param(None, True, id="close-raises")],
)
def test_body_errors_close_once_and_end_the_profile(
    raise_at: int | None, close_raises: bool
) -> None:
    body = Body([b"a", b"b"], raise_at=raise_at, close_raises=close_raises)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    profiler = Profiler(app, stream=io.StringIO())
    with pytest.raises((ValueError, OSError)):
        drive(profiler)
    assert body.closed == 1
    assert profiler.profiled == 1
    follow = Profiler(app, stream=io.StringIO())
    body.raise_at, body.close_raises = None, False
    drive(follow)
    assert follow.profiled == 1  # the profiler was released


def test_summary_goes_to_wsgi_errors_without_stream_or_profile_dir() -> None:
    errors = io.StringIO()
    drive(Profiler(rows_app), environ={"wsgi.errors": errors, "PATH_INFO": "/rows"})
    assert "'/rows'" in errors.getvalue()
    assert "render_rows" in errors.getvalue()


def test_summary_is_sorted_and_restricted() -> None:
    stream = io.StringIO()
    drive(Profiler(rows_app, stream=stream, sort_by=("tottime",), restrictions=(2,)))
    text = stream.getvalue()
    assert "Ordered by: internal time" in text
    assert "List reduced from" in text
    assert "due to restriction <2>" in text


# --- output formats in their consumers -------------------------------------------------------


@pytest.fixture
def all_formats(tmp_path: Path) -> Path:
    profiler = Profiler(rows_app, profile_dir=tmp_path, formats=tuple(FORMATS))
    drive(profiler, environ={"PATH_INFO": "/api/rows"})
    return tmp_path


def test_pstats_file_loads_in_pstats(all_formats: Path) -> None:
    stats = pstats.Stats(str(only(all_formats, ".prof")))
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(10)
    assert "render_rows" in out.getvalue()


def test_speedscope_file_has_the_schemas_required_fields(all_formats: Path) -> None:
    doc = json.loads(only(all_formats, ".speedscope.json").read_text())
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert all(isinstance(frame["name"], str) for frame in frames)
    (profile,) = doc["profiles"]
    assert profile["type"] == "evented"
    assert profile["unit"] == "milliseconds"
    assert "GET /api/rows" in profile["name"]
    assert profile["startValue"] == 0.0
    assert profile["endValue"] > 0
    names = {frame["name"].split(" ")[0] for frame in frames}
    assert {"rows_app", "render_rows"} <= names
    # Events are well nested, in time order, within [startValue, endValue].
    stack: list[int] = []
    last = 0.0
    for event in profile["events"]:
        assert event["at"] >= last - 1e-9
        assert event["at"] <= profile["endValue"] + 1e-9
        last = event["at"]
        assert 0 <= event["frame"] < len(frames)
        if event["type"] == "O":
            stack.append(event["frame"])
        else:
            assert event["type"] == "C"
            assert stack.pop() == event["frame"]
    assert not stack


def read_callgrind(text: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """A small callgrind reader: header fields and, per function, own cost and calls."""
    header: dict[str, str] = {}
    names: dict[str, str] = {}
    functions: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    callee: str | None = None
    pending_calls: int | None = None

    def resolve(value: str) -> str:
        match = re.fullmatch(r"\((\d+)\)(?: (.*))?", value)
        assert match, value
        if match.group(2) is not None:
            names[match.group(1)] = match.group(2)
        return names[match.group(1)]

    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep and key in ("fl", "cfl"):
            resolve(value)
        elif sep and key == "fn":
            current = functions.setdefault(resolve(value), {"self": 0, "calls": {}})
        elif sep and key == "cfn":
            callee = resolve(value)
        elif sep and key == "calls":
            pending_calls = int(value.split()[0])
        elif re.fullmatch(r"\d+ \d+", line):
            assert current is not None
            cost = int(line.split()[1])
            if pending_calls is not None:
                assert callee is not None
                current["calls"][callee] = (pending_calls, cost)
                pending_calls = None
            else:
                current["self"] += cost
        else:
            field, colon, rest = line.partition(": ")
            assert colon, f"unparsable line {line!r}"
            header[field] = rest
    return header, functions


def test_callgrind_file_parses(all_formats: Path) -> None:
    header, functions = read_callgrind(only(all_formats, ".callgrind").read_text())
    assert header["events"] == "Microseconds"
    assert header["positions"] == "line"
    assert header["cmd"].startswith("GET /api/rows")
    assert int(header["summary"]) == sum(f["self"] for f in functions.values())
    (iterate,) = [name for name in functions if name.startswith("__iter__ (test_profiler.py")]
    (rows,) = [name for name in functions[iterate]["calls"] if name.startswith("render_rows ")]
    assert functions[iterate]["calls"][rows][0] == 3  # called once per chunk


def test_html_page_is_self_contained_with_flame_graph_and_table(all_formats: Path) -> None:
    page = only(all_formats, ".html").read_text()
    assert "<svg" in page
    assert "<rect" in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "rows_app" in svg
    assert "render_rows" in svg
    assert "<table" in page
    assert "cumulative" in page
    assert "http:" not in page
    assert "https:" not in page
    assert "//" not in page.replace("</", "")
    assert "<script" not in page.lower()
    assert 'src="' not in page
    assert "<link" not in page


def test_call_tree_handles_recursion_and_never_exceeds_its_parent() -> None:
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    profile = cProfile.Profile()
    profile.runcall(fib, 15)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    tree = call_tree(stats)

    def check(node: Any, depth: int) -> int:
        assert sum(child.total for child in node.children) <= node.total + 1e-9
        assert depth < 70
        return 1 + sum(check(child, depth + 1) for child in node.children)

    assert check(tree, 0) >= 2
    assert any(child.func and child.func[2] == "fib" for child in tree.children)


# --- file names ------------------------------------------------------------------------------


def test_file_names_never_contain_the_query_and_are_sanitised(tmp_path: Path) -> None:
    profiler = Profiler(rows_app, profile_dir=tmp_path, formats=("pstats", "html"))
    drive(profiler, environ={"PATH_INFO": "/../../etc/<x>", "QUERY_STRING": "secret=hunter2"})
    names = files(tmp_path)
    assert len(names) == 2
    for name in names:
        assert "hunter2" not in name
        assert "secret" not in name
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name)
        assert name.startswith("GET.")
        assert ".ms." not in name


def test_filename_format_callable_gets_environ_and_is_sanitised(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def name(environ: dict[str, Any]) -> str:
        seen.update(environ["middlewares.profiler"])
        return "../../escape/" + environ["PATH_INFO"] + ".prof"

    drive(Profiler(rows_app, profile_dir=tmp_path, filename_format=name))
    (only_file,) = files(tmp_path)
    assert only_file.endswith(".prof")
    assert "/" not in only_file
    assert not only_file.startswith(".")
    assert seen["elapsed"] >= 0
    assert seen["time"] > 0


def test_profiles_are_never_overwritten(tmp_path: Path) -> None:
    profiler = Profiler(rows_app, profile_dir=tmp_path, filename_format="same.prof")
    for _ in range(3):
        drive(profiler)
    assert len(files(tmp_path)) == 3
    assert "same.prof" in files(tmp_path)


def test_unwritable_directory_is_reported_not_raised(tmp_path: Path) -> None:
    target = tmp_path / "gone"
    target.mkdir()
    profiler = Profiler(rows_app, profile_dir=target)
    target.rmdir()
    errors = io.StringIO()
    result = drive(profiler, environ={"wsgi.errors": errors})
    assert result.status == "200 OK"
    assert "profile not written" in errors.getvalue()


# --- sampling and triggers -------------------------------------------------------------------


def test_sample_rate_zero_passes_the_apps_own_body_through() -> None:
    app, record = make_app("list", [b"hi"])
    profiler = Profiler(app, sample_rate=0.0, stream=io.StringIO())
    result = drive(profiler, validate=False)
    assert result.server_body is record["body"]  # no wrapper at all
    assert profiler.profiled == 0


def test_sample_rate_profiles_about_that_fraction() -> None:
    app, _record = make_app("list", [b"hi"])
    profiler = Profiler(app, sample_rate=0.5, stream=io.StringIO())
    for _ in range(400):
        drive(profiler, validate=False)
    # Binomial(400, 0.5): outside [120, 280] has a probability far below 1e-15.
    assert 120 <= profiler.profiled <= 280


def test_forked_workers_draw_different_samples() -> None:
    rng = random.Random(1)
    _reseed(weakref.ref(rng))  # what os.register_at_fork runs in a new worker
    assert rng.random() != random.Random(1).random()


def trigger_app(sample_rate: float = 0.0) -> tuple[Profiler, dict[str, Any]]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen["query"] = environ.get("QUERY_STRING")
        seen["header"] = environ.get("HTTP_X_PROFILE")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    profiler = Profiler(
        app, sample_rate=sample_rate, trigger="X-Profile", viewer_token=TOKEN, stream=io.StringIO()
    )
    return profiler, seen


@pytest.mark.parametrize(
    ("environ", "profiled", "query_seen"),
    [
        pytest.param({"HTTP_X_PROFILE": TOKEN}, True, "", id="header-right-token"),
        pytest.param({"HTTP_X_PROFILE": TOKEN[:-1] + "x"}, False, "", id="header-wrong-token"),
        pytest.param({"HTTP_X_PROFILE": ""}, False, "", id="header-empty"),
        pytest.param({}, False, "", id="no-trigger"),
        pytest.param({"QUERY_STRING": f"a=1&X-Profile={TOKEN}&b=2"}, True, "a=1&b=2", id="query"),
        pytest.param(
            {"QUERY_STRING": "X-Profile=nope&b=2"}, False, "X-Profile=nope&b=2", id="q-bad"
        ),
        pytest.param({"QUERY_STRING": "X-Profiled=1"}, False, "X-Profiled=1", id="q-other-name"),
        pytest.param({"QUERY_STRING": "X-Profile"}, False, "X-Profile", id="query-no-value"),
        pytest.param(
            {"HTTP_X_PROFILE": TOKEN, "QUERY_STRING": f"a=1&X-Profile={TOKEN}"},
            True,
            "a=1",
            id="header-and-query-both-removed",
        ),
        pytest.param(
            {"HTTP_X_PROFILE": "nope", "QUERY_STRING": f"X-Profile={TOKEN}&b=2"},
            True,
            "b=2",
            id="wrong-header-right-query",
        ),
        pytest.param(
            {"QUERY_STRING": f"X-Profile=nope&X-Profile={TOKEN}"}, True, "", id="query-repeated"
        ),
    ],
)
def test_trigger_needs_the_right_token(
    environ: dict[str, str], profiled: bool, query_seen: str
) -> None:
    profiler, seen = trigger_app()
    result = drive(profiler, environ=environ)
    assert result.status == "200 OK"
    assert profiler.profiled == int(profiled)
    assert seen["query"] == query_seen
    if profiled:
        assert seen["header"] is None  # the secret never reaches the app


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"HTTP_X_PROFILE": TOKEN}, id="header"),
        pytest.param({"QUERY_STRING": f"a=1&X-Profile={TOKEN}"}, id="query"),
    ],
)
@pytest.mark.parametrize("sample_rate", [1.0, 0.5])
def test_trigger_is_removed_when_sampling_picks_the_request_too(
    environ: dict[str, str], sample_rate: float
) -> None:
    # sample_rate=1.0 is the default: the trigger is checked (and removed) before sampling.
    profiler, seen = trigger_app(sample_rate)
    profiler._draw = lambda: 0.0  # type: ignore[assignment]  # the draw picks this request
    drive(profiler, environ=environ)
    assert profiler.profiled == 1
    assert seen["header"] is None
    assert TOKEN not in seen["query"]


def test_trigger_never_reaches_the_access_log_in_the_recommended_order(log: LogCapture) -> None:
    # docs/ordering.rst: RequestLogger outside Profiler; the logger reads the environ after the
    # profiler has removed the secret (the logger's redaction does not know the trigger name).
    profiler, _seen = trigger_app(1.0)
    app = RequestLogger(profiler, logger=log.logger, format="{path}?{query}")
    drive(app, environ={"PATH_INFO": "/slow", "QUERY_STRING": f"X-Profile={TOKEN}&a=1"})
    assert profiler.profiled == 1
    assert log.lines == ["/slow?a=1"]


# --- the busy profiler -----------------------------------------------------------------------


def test_a_request_finding_the_profiler_busy_runs_unprofiled() -> None:
    first_app, first_record = make_app("generator", [b"a", b"b"])
    first = Profiler(first_app, stream=io.StringIO())
    open_body = first({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: None)
    try:
        app, record = make_app("list", [b"second"])
        second = Profiler(app, stream=io.StringIO())
        result = drive(second)
        assert result.body == b"second"
        assert closes(record) == 1
        assert second.skipped_busy == 1
        assert second.profiled == 0
    finally:
        open_body.close()  # type: ignore[attr-defined]
    assert closes(first_record) == 1
    assert first.profiled == 1
    drive(second)
    assert second.profiled == 1


def test_another_profiling_tool_holding_the_slot_does_not_fail_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Taken(cProfile.Profile):
        def enable(self, *args: Any, **kwargs: Any) -> None:
            raise ValueError("Another profiling tool is already active")

    monkeypatch.setattr(cProfile, "Profile", Taken)
    app, record = make_app("generator", [b"a", b"b"])
    stream = io.StringIO()
    profiler = Profiler(app, stream=stream)
    result = drive(profiler)
    assert result.body == b"ab"
    assert closes(record) == 1
    assert profiler.skipped_busy == 1
    assert profiler.profiled == 0
    assert stream.getvalue() == ""


def test_concurrent_threads_never_fail() -> None:
    profiler = Profiler(rows_app, stream=io.StringIO())
    errors: list[BaseException] = []
    bodies: list[bytes] = []

    def worker() -> None:
        try:
            for _ in range(10):
                bodies.append(drive(profiler, validate=False).body)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(bodies) == 60
    assert all(body.startswith(b"[{") for body in bodies)
    assert profiler.profiled + profiler.skipped_busy == 60
    assert profiler.profiled >= 1


# --- the viewer ------------------------------------------------------------------------------


@pytest.fixture
def viewer(tmp_path: Path) -> TestApp:
    profiler = Profiler(
        rows_app,
        profile_dir=tmp_path,
        formats=("pstats", "html", "speedscope"),
        viewer_path="/_profiler",
        viewer_token=TOKEN,
    )
    drive(profiler, environ={"PATH_INFO": HOSTILE_PATH, "REQUEST_METHOD": HOSTILE_METHOD})
    return TestApp(profiler)


def test_viewer_is_off_by_default() -> None:
    app = TestApp(Profiler(rows_app, stream=io.StringIO()))
    response = app.get("/_profiler", params={"token": TOKEN})
    assert response.content_type == "application/json"  # the app answered


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"params": {"token": "wrong-token-0123456789"}}, id="wrong-query"),
        pytest.param({"headers": {"X-Profiler-Token": TOKEN + "x"}}, id="wrong-header"),
    ],
)
def test_viewer_needs_the_token(viewer: TestApp, kwargs: dict[str, Any]) -> None:
    viewer.get("/_profiler", status=404, **kwargs)


def test_viewer_lists_profiles_escaping_every_value(viewer: TestApp) -> None:
    response = viewer.get("/_profiler/", headers={"X-Profiler-Token": TOKEN})
    page = response.text
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;p&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    links = re.findall(r'href="([^"]+)"', page)
    assert len(links) == 3
    assert all(link.startswith("/_profiler/") and "token=" in link for link in links)


def test_viewer_serves_files_escaped_and_refuses_others(viewer: TestApp) -> None:
    page = viewer.get("/_profiler", params={"token": TOKEN}).text
    html_link = next(link for link in re.findall(r'href="([^"]+)"', page) if ".html" in link)
    flame = viewer.get(html_link.replace("&amp;", "&"))
    assert flame.content_type == "text/html"
    assert "<script" not in flame.text
    assert "&lt;script&gt;" in flame.text
    assert "rows_app" in flame.text
    prof_link = next(link for link in re.findall(r'href="([^"]+)"', page) if ".prof" in link)
    prof = viewer.get(prof_link.replace("&amp;", "&"))
    assert prof.headers["Content-Disposition"].startswith("attachment")
    auth = {"X-Profiler-Token": TOKEN}
    viewer.get("/_profiler/..%2F..%2Fetc%2Fpasswd.html", headers=auth, status=404)
    viewer.get("/_profiler/../x.html", headers=auth, status=404)
    viewer.get("/_profiler/missing.html", headers=auth, status=404)
    viewer.get("/_profiler/notes.txt", headers=auth, status=404)
    viewer.post("/_profiler/", headers=auth, status=405)
    assert viewer.head("/_profiler/", headers=auth).body == b""


def test_viewer_links_keep_a_non_ascii_mount_point(tmp_path: Path) -> None:
    # SCRIPT_NAME is the URL's bytes as latin-1 text (PEP 3333): "/café" mounted by Dispatcher
    # arrives as "/caf\xc3\xa9" and must go back out as /caf%C3%A9, not encoded a second time.
    profiler = Profiler(
        rows_app,
        profile_dir=tmp_path,
        formats=("html",),
        viewer_path="/_profiler",
        viewer_token=TOKEN,
    )
    site = Dispatcher(mounts={"/café": profiler})
    mount = "/café".encode().decode("latin-1")
    drive(site, environ={"PATH_INFO": mount + "/rows"})
    page = drive(
        site, environ={"PATH_INFO": mount + "/_profiler", "HTTP_X_PROFILER_TOKEN": TOKEN}
    ).body
    links = re.findall(rb'href="([^"?]*)', page)
    assert len(links) == 1
    assert links[0].startswith(b"/caf%C3%A9/_profiler/")


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"sample_rate": 1.5}, ValueError, "sample_rate", id="rate-high"),
        pytest.param({"sample_rate": True}, TypeError, "sample_rate", id="rate-bool"),
        pytest.param({"trigger": "X-Profile"}, ValueError, "viewer_token", id="trigger-no-token"),
        pytest.param(
            {"trigger": "X Profile", "viewer_token": TOKEN}, ValueError, "trigger", id="bad-name"
        ),
        pytest.param({"viewer_token": "short"}, ValueError, "viewer_token", id="short-token"),
        pytest.param(
            {"viewer_path": "/_p", "viewer_token": TOKEN},
            ValueError,
            "profile_dir",
            id="viewer-no-dir",
        ),
        pytest.param({"formats": ("pdf",)}, ValueError, "formats", id="unknown-format"),
        pytest.param({"formats": "html"}, TypeError, "formats", id="format-str"),
        pytest.param({"sort_by": ("nope",)}, ValueError, "sort_by", id="sort-key"),
        pytest.param({"restrictions": "x"}, TypeError, "restrictions", id="restrictions-str"),
        pytest.param({"filename_format": "{user}.prof"}, ValueError, "filename_format", id="fmt"),
        pytest.param({"filename_format": 3}, TypeError, "filename_format", id="fmt-type"),
        pytest.param({"profile_dir": "/no/such/dir"}, ValueError, "profile_dir", id="no-dir"),
        pytest.param({"stream": object()}, TypeError, "stream", id="stream"),
    ],
)
def test_bad_configuration_is_refused_by_name(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Profiler(rows_app, **kwargs)


def test_viewer_path_must_be_a_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="viewer_path"):
        Profiler(
            rows_app,
            profile_dir=tmp_path,
            formats=("html",),
            viewer_path="_profiler",
            viewer_token=TOKEN,
        )


@pytest.mark.parametrize(
    "body", [[b"ok"], [], [b"<p>hello</p>" * 100]], ids=["tiny", "empty", "page"]
)
def test_a_profiled_response_is_framed_as_an_unprofiled_one(body: list[bytes]) -> None:
    # The profiler measures the app and changes nothing: Compress outside it still sees the
    # list (exact Content-Length, min_size, an empty body left alone).
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return list(body)

    unprofiled, profiled = (
        drive(
            Compress(Profiler(app, sample_rate=rate, stream=io.StringIO())),
            environ={"HTTP_ACCEPT_ENCODING": "gzip"},
        )
        for rate in (0.0, 1.0)
    )
    assert profiled.headers == unprofiled.headers
    assert profiled.body == unprofiled.body
