"""The README's tour and the stack in docs/ordering.rst are real code: run them as written,
then send requests through the stacks they build."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from webtest import TestApp

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ORDERING = ROOT / "docs" / "ordering.rst"


def tour_code() -> str:
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A short tour") :]
    match = re.search(r"```python\n(.*?)```", tour, re.S)
    assert match, "the README's tour has no python block"
    return match.group(1)


def test_readme_tour_runs_and_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "site.css").write_text("body { color: red }\n")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(tour_code(), str(README), "exec"), namespace)
    application = namespace["application"]
    assert repr(application).startswith("<Stack ProxyFix(")
    client = TestApp(application)
    assert client.get("/").body == b"Hello, world!"
    static = client.get("/static/site.css")
    assert static.body == b"body { color: red }\n"
    assert "ETag" in static.headers


def ordering_code() -> str:
    """The first python code block of docs/ordering.rst, dedented."""
    text = ORDERING.read_text(encoding="utf-8")
    match = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text)
    assert match, "docs/ordering.rst has no python block"
    return textwrap.dedent(match.group(1))


def test_ordering_stack_runs_and_profiles_only_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "ordering-doc-token-0123456789"
    monkeypatch.setenv("PROFILER_TOKEN", token)
    monkeypatch.chdir(ROOT)  # "runs as written from a checkout's top directory"
    namespace: dict[str, Any] = {}
    exec(compile(ordering_code(), str(ORDERING), "exec"), namespace)
    application = namespace["application"]
    assert repr(application).startswith("<Stack ProxyFix(")
    assert repr(application).endswith(
        "-> Profiler(sample_rate=0.0, trigger='X-Profile', viewer_token='***') -> app>"
    )
    # TestApp fails a request that writes to wsgi.errors: ordinary requests are not profiled.
    client = TestApp(application)
    assert b"middlewares demo" in client.get("/").body
    assert client.get("/api/hello").json
    assert "ETag" in client.get("/static/demo.css").headers
    asked = client.get("/", headers={"X-Profile": token}, expect_errors=True)
    assert "function calls" in asked.errors  # the profile's summary went to wsgi.errors
