"""Write precompressed twins (``name.br``, ``name.gz``, ``name.zst``) for StaticFiles to serve.

This is what ``middlewares compress DIR`` runs.  Output is deterministic (no time stamp or file
name in the gzip header, the same levels every time), so a build produces the same bytes
twice and a deploy can diff them.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import brotli  # type: ignore[import-untyped]

from middlewares._codecs import zstd_module

__all__ = ["SKIP_SUFFIXES", "CompressSummary", "compress_tree"]

#: Types that are already compressed: images, audio/video, web fonts, archives, PDFs.
SKIP_SUFFIXES = frozenset((
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic", ".jxl",
    ".mp3", ".mp4", ".m4a", ".m4v", ".webm", ".ogg", ".oga", ".ogv", ".opus", ".mkv", ".mov",
    ".flac", ".aac", ".woff", ".woff2",
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".br", ".7z", ".rar", ".jar", ".whl", ".pdf",
))  # fmt: skip
_SUFFIX = {"br": ".br", "gzip": ".gz", "zstd": ".zst"}


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)  # mtime=0: no time stamp in the header


def _brotli(data: bytes) -> bytes:
    return bytes(brotli.compress(data, quality=11))


def _zstd() -> Callable[[bytes], bytes] | None:
    found = zstd_module()
    if found is None:
        return None
    kind, module = found
    if kind == "stdlib":
        return lambda data: bytes(module.compress(data, level=19))
    compressor_class = module.ZstdCompressor
    # A compressor object is not thread-safe: one per call (cheap next to level 19).
    return lambda data: bytes(compressor_class(level=19).compress(data))


@dataclass
class CompressSummary:
    """What :func:`compress_tree` did; ``str()`` gives a one-line report."""

    written: list[Path] = field(default_factory=list)
    up_to_date: int = 0
    not_smaller: int = 0
    skipped_files: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    def __str__(self) -> str:
        return (
            f"{len(self.written)} twins written ({self.bytes_in} -> {self.bytes_out} bytes), "
            f"{self.up_to_date} up to date, {self.not_smaller} not smaller by enough, "
            f"{self.skipped_files} files of compressed types skipped"
        )


def compress_tree(
    directory: str | os.PathLike[str],
    *,
    workers: int | None = None,
    encodings: Sequence[str] | None = None,
    min_saving: float = 0.05,
    hidden: bool = False,
) -> CompressSummary:
    """Write ``.br``/``.gz`` (and ``.zst``) twins of every file under ``directory``, in parallel.

    Brotli quality 11, gzip level 9, zstd level 19.  Skips dotfiles and dot-directories (unless
    ``hidden``), symlinks, :data:`SKIP_SUFFIXES` types, and twins that would not be at least
    ``min_saving`` smaller than their file (a stale twin of that kind is removed).  A twin gets
    its file's modification time, so a run skips twins that are up to date and StaticFiles
    ignores twins older than their file.  Twins are written to a temporary file and renamed,
    so a server never reads half a twin.

    Usage::

        summary = compress_tree("assets", workers=4)
        print(summary)

    :param directory: the tree to compress (what StaticFiles serves).
    :param workers: threads compressing at once (the codecs release the GIL); default: CPUs.
    :param encodings: any of ``"br"``, ``"gzip"``, ``"zstd"``; default: br and gzip, plus zstd
        when a zstd module is importable.
    :param min_saving: the fraction a twin must save to be written (default 5%).
    :param hidden: also compress dotfiles and files in dot-directories.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"directory: {str(root)!r} is not a directory")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be an int >= 1 or None, not {workers!r}")
    if not 0.0 <= min_saving < 1.0:
        raise ValueError(f"min_saving must be in [0, 1), not {min_saving!r}")
    codecs = _codecs(encodings)
    summary = CompressSummary()
    files: list[Path] = []
    for path in _files(root, hidden):
        if path.suffix.lower() in SKIP_SUFFIXES:
            summary.skipped_files += 1
        else:
            files.append(path)

    def one(path: Path) -> list[tuple[str, Path | None, int, int]]:
        return _compress_file(path, codecs, min_saving)

    if workers == 1 or len(files) < 2:
        results: Iterator[list[tuple[str, Path | None, int, int]]] = map(one, files)
    else:
        pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1)
        with pool:
            results = iter(list(pool.map(one, files)))
    for outcomes in results:
        for outcome, twin, size_in, size_out in outcomes:
            if outcome == "written" and twin is not None:
                summary.written.append(twin)
                summary.bytes_in += size_in
                summary.bytes_out += size_out
            elif outcome == "up to date":
                summary.up_to_date += 1
            else:
                summary.not_smaller += 1
    summary.written.sort()
    return summary


def _codecs(encodings: Sequence[str] | None) -> list[tuple[str, Callable[[bytes], bytes]]]:
    zstd = _zstd()
    if encodings is None:
        encodings = ("br", "gzip", "zstd") if zstd else ("br", "gzip")
    if isinstance(encodings, str) or not encodings:
        raise ValueError("encodings must be a non-empty sequence such as ('br', 'gzip')")
    table: dict[str, Callable[[bytes], bytes] | None] = {
        "br": _brotli,
        "gzip": _gzip,
        "zstd": zstd,
    }
    codecs = []
    for name in encodings:
        if name not in table:
            raise ValueError(f"encodings: unknown coding {name!r}; use br, gzip or zstd")
        codec = table[name]
        if codec is None:
            raise ValueError("encodings: zstd needs the zstandard package (pip install zstandard)")
        codecs.append((name, codec))
    return codecs


def _files(root: Path, hidden: bool) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow directory symlinks
        if not hidden:
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if (hidden or not name.startswith(".")) and not path.is_symlink() and path.is_file():
                yield path


def _compress_file(
    path: Path, codecs: list[tuple[str, Callable[[bytes], bytes]]], min_saving: float
) -> list[tuple[str, Path | None, int, int]]:
    st = path.stat()
    data: bytes | None = None
    outcomes: list[tuple[str, Path | None, int, int]] = []
    for name, codec in codecs:
        twin = path.with_name(path.name + _SUFFIX[name])
        try:
            tst = twin.stat()
            if tst.st_mtime_ns == st.st_mtime_ns and 0 < tst.st_size < st.st_size:
                outcomes.append(("up to date", twin, 0, 0))
                continue
        except FileNotFoundError:
            pass
        if data is None:
            data = path.read_bytes()
        compressed = codec(data)
        if len(compressed) > len(data) * (1.0 - min_saving):
            twin.unlink(missing_ok=True)  # a stale twin of an incompressible file
            outcomes.append(("not smaller", None, 0, 0))
            continue
        _write_atomically(twin, compressed, st)
        outcomes.append(("written", twin, len(data), len(compressed)))
    return outcomes


def _write_atomically(twin: Path, data: bytes, st: os.stat_result) -> None:
    # A dot-name, so StaticFiles never serves the temporary file even mid-write.
    fd, tmp = tempfile.mkstemp(prefix=f".{twin.name}.", suffix=".tmp", dir=twin.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chmod(tmp, st.st_mode & 0o777)
        os.replace(tmp, twin)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
