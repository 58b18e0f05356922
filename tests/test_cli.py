"""The ``middlewares`` command line, in process (the servers it starts: tests/e2e)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from middlewares.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOOD = """
app = "tests.config_layers:echo"

[[middleware]]
use = "tests.config_layers:Tagger"
tag = "outer"

[[middleware]]
use = "tests.config_layers:Loose"
level = 2
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "stack.toml"
    path.write_text(GOOD)
    return path


def test_check_prints_the_stack_outermost_first_and_exits_0(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{config}: 2 layers, outermost first"
    assert out[1] == "  1. tests.config_layers:Tagger (Tagger)"
    assert "       tag = 'outer'" in out
    assert "       times = 1" in out  # effective options include the defaults
    assert out.index("  2. tests.config_layers:Loose (Loose)") > out.index("       tag = 'outer'")
    assert "       level = 2" in out
    assert out[-2:] == ["  app: tests.config_layers:echo", "OK"]


def test_check_of_a_bad_config_says_why_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("level = 2", 'level = "high"'))
    assert main(["check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"middlewares check: error: {path}: layer 2 (use = 'tests.config_layers:Loose'): "
        "option 'level': expected int, got 'high' (str)\n"
    )


def test_check_runs_the_constructors_own_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('tag = "outer"', "times = 0"))
    assert main(["check", str(path)]) == 1
    assert "ValueError: times must be at least 1, got 0" in capsys.readouterr().err


def test_check_of_a_file_that_is_not_utf8_exits_1_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD.replace('"outer"', '"caf\xe9"').encode("latin-1"))
    assert main(["check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"middlewares check: error: {path}: not UTF-8")


def test_check_refuses_an_app_that_is_not_callable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "stack.toml"
    path.write_text(GOOD.replace("tests.config_layers:echo", "tests.wsgi_helpers:HELLO"))
    assert main(["check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no stack, no OK
    assert captured.err == (
        f"middlewares check: error: {path}: app: "
        "'tests.wsgi_helpers:HELLO' is not callable: its type is bytes\n"
    )


def test_check_masks_a_token_but_shows_the_credentials_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/cli.rst: only string values of secret-looking names are masked.
    path = tmp_path / "stack.toml"
    path.write_text(
        'app = "tests.config_layers:echo"\n'
        '[[middleware]]\nuse = "cors"\nallow_origins = ["https://a.example"]\n'
        "allow_credentials = true\n"
        '[[middleware]]\nuse = "profiler"\nsample_rate = 0.0\ntrigger = "X-Profile"\n'
        'viewer_token = "s3cret-token-0123456789"\n'
    )
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "       allow_credentials = True" in out.splitlines()
    assert "       viewer_token = '***'" in out.splitlines()
    assert "s3cret" not in out


def test_check_shows_a_default_that_depends_on_other_options_as_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/cli.rst: ProxyFix's x_for and x_proto default to None, meaning 1 (0 with forwarded).
    path = tmp_path / "stack.toml"
    path.write_text('app = "tests.config_layers:echo"\n[[middleware]]\nuse = "proxy_fix"\n')
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "       x_for = None" in out
    assert "       x_proto = None" in out


def test_check_of_a_missing_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "none.toml")]) == 1
    assert "none.toml" in capsys.readouterr().err


def test_serve_with_a_bad_config_exits_1_before_starting_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('app = "no_such_module:app"\n')
    assert main(["serve", str(path), "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("middlewares serve: error: ")
    assert "No module named 'no_such_module'" in err


def test_waitress_cannot_run_several_workers(config: Path) -> None:
    with pytest.raises(SystemExit, match="waitress runs one process; use --server gunicorn"):
        main(["serve", str(config), "--server", "waitress", "--workers", "2"])


def test_workers_must_be_positive(config: Path) -> None:
    with pytest.raises(SystemExit, match="at least 1"):
        main(["serve", str(config), "--server", "gunicorn", "--workers", "0"])


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_compress_of_a_missing_directory_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compress", str(tmp_path / "nothing")]) == 1
    assert "nothing" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command(config: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "middlewares", "check", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "OK"


def test_compress_writes_twins_that_shrink_and_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.css").write_text("body { color: red; }\n" * 200)
    (tmp_path / "tiny.txt").write_text("x")
    assert main(["compress", str(tmp_path), "--encodings", "gzip", "br", "--workers", "1"]) == 0
    assert (tmp_path / "app.css.gz").stat().st_size < (tmp_path / "app.css").stat().st_size
    assert (tmp_path / "app.css.br").exists()
    assert not (tmp_path / "tiny.txt.gz").exists()  # it would not shrink
    assert capsys.readouterr().out.strip()


def test_compress_with_an_unknown_encoding_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.css").write_text("a {}\n" * 100)
    assert main(["compress", str(tmp_path), "--encodings", "lzma"]) == 1
    assert "lzma" in capsys.readouterr().err
