"""The content codings behind :class:`middlewares.compress.Compress`: gzip, br and zstd.

Each :class:`Codec` is built once per middleware from its options and is immutable, so threads
and forked workers share it safely; per response it hands out a fresh :class:`Encoder` (codec
state is never shared between responses).  Every codec has two paths:

* :meth:`Codec.whole`: a body that is entirely at hand, compressed in one call;
* :meth:`Codec.stream`: an :class:`Encoder` that compresses chunk by chunk, optionally flushing
  after each chunk so the client can decode everything sent so far.

``pad`` (``None`` or a byte count) adds BREACH length padding in a place every decoder skips:
a gzip ``FCOMMENT`` header field (RFC 1952 section 2.3.1) or a brotli metadata meta-block
(RFC 7932 section 9.2).  The decoded body is unchanged; only the compressed length varies.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from typing import Any, Protocol

import brotli  # type: ignore[import-untyped]

__all__ = ["Codec", "Encoder", "make_codec", "zstd_module"]


class Encoder(Protocol):
    """One response's compressor."""

    def compress(self, data: bytes) -> bytes:
        """Compress ``data``; output may stay inside the codec until a flush."""
        ...

    def sync(self, data: bytes) -> bytes:
        """Compress ``data`` and flush: the output decodes to everything given so far."""
        ...

    def finish(self) -> bytes:
        """End the stream (trailer, padding)."""
        ...


class Codec(Protocol):
    name: str

    def whole(self, data: bytes, pad: int | None) -> bytes: ...

    def stream(self, pad: int | None) -> Encoder: ...


# --- gzip (RFC 1952) -------------------------------------------------------------------------


class _Zlib:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, 31)  # 16 + 15: gzip wrapper

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)

    def sync(self, data: bytes) -> bytes:
        # Z_SYNC_FLUSH ends on a byte boundary with an empty stored block: the client's
        # inflater can emit every byte so far (what server-sent events need).
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(zlib.Z_FINISH)


class _PaddedGzip:
    """gzip written by hand around raw deflate, so the header can carry an ``FCOMMENT`` pad."""

    __slots__ = ("_c", "_crc", "_header", "_size")

    def __init__(self, level: int, pad: int) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._crc = 0
        self._size = 0
        # ID1 ID2 CM=deflate FLG=FCOMMENT, MTIME=0, XFL=0, OS=255 (unknown); the comment is
        # zero-terminated ISO 8859-1 text, which decoders skip.
        self._header = b"\x1f\x8b\x08\x10\x00\x00\x00\x00\x00\xff" + b" " * pad + b"\x00"

    def _take(self, data: bytes) -> bytes:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        out = self._header + self._c.compress(data)
        self._header = b""
        return out

    def compress(self, data: bytes) -> bytes:
        return self._take(data)

    def sync(self, data: bytes) -> bytes:
        return self._take(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        out = self._take(b"") + self._c.flush(zlib.Z_FINISH)
        return out + struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF)


class GzipCodec:
    __slots__ = ("level",)
    name = "gzip"

    def __init__(self, level: int) -> None:
        self.level = level

    def whole(self, data: bytes, pad: int | None) -> bytes:
        if pad is None:
            return zlib.compress(data, self.level, 31)
        encoder = _PaddedGzip(self.level, pad)
        return encoder.compress(data) + encoder.finish()

    def stream(self, pad: int | None) -> Encoder:
        return _Zlib(self.level) if pad is None else _PaddedGzip(self.level, pad)


# --- br (RFC 7932) ---------------------------------------------------------------------------


def _brotli_metadata(size: int) -> bytes:
    """A metadata meta-block of ``size`` (0-256) skipped bytes (RFC 7932 section 9.2).

    Bits, least significant first: ISLAST=0, MNIBBLES=0 (code 3), a reserved 0, MSKIPBYTES,
    then MSKIPLEN-1 in MSKIPBYTES bytes, zero bits to the byte boundary, then the bytes.
    """
    if size == 0:
        return b"\x06"  # MSKIPBYTES=0: an empty metadata block, six bits and padding
    return ((3 << 1) | (1 << 4) | ((size - 1) << 6)).to_bytes(2, "little") + b" " * size


class _Brotli:
    __slots__ = ("_c", "_pad")

    def __init__(self, quality: int, pad: int | None) -> None:
        self._c = brotli.Compressor(quality=quality)
        self._pad = pad

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._c.process(data)
        return out

    def sync(self, data: bytes) -> bytes:
        out: bytes = self._c.process(data) + self._c.flush()
        return out

    def finish(self) -> bytes:
        if self._pad is None:
            out: bytes = self._c.finish()
        else:
            # flush() leaves the stream on a meta-block boundary, byte-aligned, where a
            # metadata meta-block may stand.
            out = self._c.flush() + _brotli_metadata(self._pad) + self._c.finish()
        return out


class BrotliCodec:
    __slots__ = ("quality",)
    name = "br"

    def __init__(self, quality: int) -> None:
        self.quality = quality

    def whole(self, data: bytes, pad: int | None) -> bytes:
        if pad is None:
            out: bytes = brotli.compress(data, quality=self.quality)
            return out
        encoder = _Brotli(self.quality, pad)
        return encoder.compress(data) + encoder.finish()

    def stream(self, pad: int | None) -> Encoder:
        return _Brotli(self.quality, pad)


# --- zstd (RFC 8878, RFC 9659) ---------------------------------------------------------------


def zstd_module() -> tuple[str, Any] | None:
    """The zstd binding to use: ``("stdlib", module)``, ``("zstandard", module)`` or ``None``.

    ``compression.zstd`` (Python 3.14+) or its backport first, then the ``zstandard`` package.
    """
    for name, kind in (
        ("compression.zstd", "stdlib"),
        ("backports.zstd", "stdlib"),
        ("zstandard", "zstandard"),
    ):
        try:
            return kind, importlib.import_module(name)
        except ImportError:
            continue
    return None


class _StdlibZstd:
    __slots__ = ("_block", "_c", "_frame")

    def __init__(self, module: Any, level: int) -> None:
        self._c = module.ZstdCompressor(level=level)
        self._block = module.ZstdCompressor.FLUSH_BLOCK
        self._frame = module.ZstdCompressor.FLUSH_FRAME

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data)
        return out

    def sync(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data, mode=self._block)
        return out

    def finish(self) -> bytes:
        out: bytes = self._c.flush(mode=self._frame)
        return out


class _Zstandard:
    __slots__ = ("_block", "_c")

    def __init__(self, module: Any, level: int) -> None:
        self._c = module.ZstdCompressor(level=level).compressobj()
        self._block = module.COMPRESSOBJ_FLUSH_BLOCK

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data)
        return out

    def sync(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data) + self._c.flush(self._block)
        return out

    def finish(self) -> bytes:
        out: bytes = self._c.flush()
        return out


class ZstdCodec:
    __slots__ = ("kind", "level", "module")
    name = "zstd"

    def __init__(self, binding: tuple[str, Any], level: int) -> None:
        self.kind, self.module = binding
        self.level = level

    def whole(self, data: bytes, pad: int | None) -> bytes:
        # pad is refused at construction for zstd (see Compress), so it is always None here.
        if self.kind == "stdlib":
            out: bytes = self.module.compress(data, level=self.level)
        else:
            out = self.module.ZstdCompressor(level=self.level).compress(data)
        return out

    def stream(self, pad: int | None) -> Encoder:
        if self.kind == "stdlib":
            return _StdlibZstd(self.module, self.level)
        return _Zstandard(self.module, self.level)


def make_codec(name: str, *, gzip_level: int, brotli_quality: int, zstd_level: int) -> Codec:
    """The codec for coding ``name``; raises ``ValueError`` for zstd without a binding."""
    if name == "gzip":
        return GzipCodec(gzip_level)
    if name == "br":
        return BrotliCodec(brotli_quality)
    binding = zstd_module()
    if binding is None:
        raise ValueError(
            "encodings lists 'zstd' but no zstd codec is importable: install "
            "wsgi-middlewares[zstd] (the zstandard package) or use Python 3.14+, "
            "or remove 'zstd' from encodings"
        )
    return ZstdCodec(binding, zstd_level)
