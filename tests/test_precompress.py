"""compress_tree(): twins written deterministically, in parallel, only where they pay off."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import brotli
import pytest
import zstandard

from middlewares.precompress import compress_tree
from middlewares.static import StaticFiles
from tests.wsgi_helpers import drive

CSS = b".button { color: #333; background: white; border: 1px solid #ccc; }\n" * 50


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "site.css").write_bytes(CSS)
    (tmp_path / "app.js").write_bytes(b"console.log('hi');\n" * 200)
    (tmp_path / "noise.bin").write_bytes(os.urandom(4000))  # does not shrink
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8" + b"a" * 4000)  # compressible, but a JPEG
    (tmp_path / "font.woff2").write_bytes(b"w" * 4000)
    (tmp_path / "bundle.tar.gz").write_bytes(b"t" * 4000)
    (tmp_path / ".env").write_bytes(b"SECRET=1\n" * 100)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_bytes(b"[core]\n" * 100)
    return tmp_path


def test_writes_br_gz_and_zst_twins_that_decode_to_the_file(tree: Path) -> None:
    summary = compress_tree(tree, workers=1)
    site = tree / "css" / "site.css"
    assert gzip.decompress((tree / "css" / "site.css.gz").read_bytes()) == CSS
    assert brotli.decompress((tree / "css" / "site.css.br").read_bytes()) == CSS
    zst = (tree / "css" / "site.css.zst").read_bytes()
    assert zstandard.ZstdDecompressor().decompress(zst) == CSS
    assert site.with_name("site.css.gz").stat().st_mtime_ns == site.stat().st_mtime_ns
    assert len(summary.written) == 6  # site.css and app.js, three codings each
    assert summary.bytes_out < summary.bytes_in
    assert "6 twins written" in str(summary)


def test_skips_compressed_types_hidden_files_and_files_that_do_not_shrink(tree: Path) -> None:
    summary = compress_tree(tree, workers=1)
    names = {path.name for path in tree.rglob("*")}
    for name in ("noise.bin", "photo.jpg", "font.woff2", "bundle.tar.gz", ".env", "config"):
        assert not any(other.startswith(name + ".") for other in names if other != name), name
    assert summary.skipped_files == 3
    assert summary.not_smaller == 3  # noise.bin in three codings
    assert not [p for p in tree.rglob("*") if p.name.endswith(".tmp")]


def test_hidden_true_compresses_dotfiles(tree: Path) -> None:
    compress_tree(tree, workers=1, hidden=True, encodings=["gzip"])
    assert (tree / ".env.gz").exists()
    assert (tree / ".git" / "config.gz").exists()


def test_output_is_deterministic_and_parallel_equals_serial(tree: Path, tmp_path: Path) -> None:
    first = {p: p.read_bytes() for p in compress_tree(tree, workers=1).written}
    for path in first:
        path.unlink()
    second = {p: p.read_bytes() for p in compress_tree(tree, workers=3).written}
    assert first == second
    assert len(first) == 6


def test_second_run_skips_up_to_date_twins_and_redoes_stale_ones(tree: Path) -> None:
    compress_tree(tree, workers=1)
    again = compress_tree(tree, workers=1)
    assert again.written == []
    assert again.up_to_date == 6
    site = tree / "css" / "site.css"
    site.write_bytes(CSS + b"/* changed */\n")
    os.utime(site, ns=(site.stat().st_atime_ns, site.stat().st_mtime_ns + 10**9))
    third = compress_tree(tree, workers=1, encodings=["gzip"])
    assert third.written == [tree / "css" / "site.css.gz"]
    assert gzip.decompress((tree / "css" / "site.css.gz").read_bytes()).endswith(b"changed */\n")


def test_stale_twin_of_a_file_that_no_longer_shrinks_is_removed(tree: Path) -> None:
    compress_tree(tree, workers=1, encodings=["gzip"])
    site = tree / "app.js"
    site.write_bytes(os.urandom(3000))
    compress_tree(tree, workers=1, encodings=["gzip"])
    assert not (tree / "app.js.gz").exists()


def test_staticfiles_serves_the_twins(tree: Path) -> None:
    compress_tree(tree, workers=2)
    app = StaticFiles(lambda e, s: [], directories={"/s": tree})
    env = {"PATH_INFO": "/s/css/site.css", "HTTP_ACCEPT_ENCODING": "br"}
    result = drive(app, environ=env)
    headers = dict(result.headers)
    assert headers["Content-Encoding"] == "br"
    assert headers["Vary"] == "Accept-Encoding"
    assert brotli.decompress(result.body) == CSS


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param({"workers": 0}, "workers", id="workers"),
        pytest.param({"encodings": ["deflate"]}, "unknown coding", id="coding"),
        pytest.param({"encodings": "gzip"}, "sequence", id="string"),
        pytest.param({"min_saving": 1.5}, "min_saving", id="saving"),
    ],
)
def test_bad_options_are_refused(tree: Path, options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compress_tree(tree, **options)  # type: ignore[arg-type]


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        compress_tree(tmp_path / "missing")
