"""The README's tour is real code: run it, then send a request through the stack it builds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from webtest import TestApp

README = Path(__file__).resolve().parents[1] / "README.md"


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
