"""TensorFlow tensor bundles (``prefix.index`` + ``prefix.data-0000k-of-0000n``), read without TensorFlow.

The ``.index`` file is a LevelDB-format table (blocks of prefix-compressed key/value entries,
each block followed by a type byte and a masked crc32c; an index block pointing at the data
blocks; a 48-byte footer ending in a magic number). Key ``""`` holds a ``BundleHeaderProto``
(number of shards, byte order, version); every other key (a checkpoint key such as
``layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE``) holds a ``BundleEntryProto``:
dtype, shape, shard id, offset, size and the masked crc32c of the tensor's bytes.

Every block and every tensor is checked against its crc32c before use; declared sizes are
checked against the files' sizes before anything is read, and no file outside the bundle's
directory is opened (symlinks leading out are refused).

>>> masked_crc32c(b"123456789") == mask(0xE3069283)
True
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from .. import guards
from ..guards import KerasFileError
from .protowire import ProtoError, Schema, parse, read_varint

__all__ = ["BundleError", "BundleEntry", "TensorBundle", "mask", "masked_crc32c", "crc32c",
           "MAX_INDEX_BYTES", "MAX_BUNDLE_ENTRIES"]

MAX_INDEX_BYTES = 256 * 2**20  # a bundle index holds ~100 bytes per tensor
MAX_BUNDLE_ENTRIES = 1_000_000
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_MASK_DELTA = 0xA282EAD8

# tensorflow/core/framework/types.proto
_DTYPES: dict[int, str] = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
                           9: "int64", 10: "bool", 17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}
_DT_STRING, _DT_BFLOAT16 = 7, 14
_DT_NAMES = {8: "complex64", 11: "qint8", 12: "quint8", 13: "qint32", 15: "qint16", 16: "quint16",
             18: "complex128", 20: "resource", 21: "variant"}

_SHAPE: Schema = {2: ("dim[]", {1: ("size", "int"), 2: ("name", "str")}), 3: ("unknown_rank", "bool")}
_ENTRY: Schema = {1: ("dtype", "int"), 2: ("shape", _SHAPE), 3: ("shard_id", "int"), 4: ("offset", "int"),
                  5: ("size", "int"), 6: ("crc32c", "fixed32"), 7: ("slices[]", "bytes")}
_HEADER: Schema = {1: ("num_shards", "int"), 2: ("endianness", "int"),
                   3: ("version", {1: ("producer", "int"), 2: ("min_consumer", "int"), 3: ("bad_consumers[]", "int")})}


class BundleError(KerasFileError):
    """A tensor bundle that is corrupt, truncated, inconsistent or not one."""


def crc32c(data: Any, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, extending ``crc``."""
    import google_crc32c

    return int(google_crc32c.extend(crc, bytes(data)))


def mask(crc: int) -> int:
    """TensorFlow's (LevelDB's) masked crc: stored crcs are rotated and offset."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: Any) -> int:
    return mask(crc32c(data))


@dataclass(frozen=True)
class BundleEntry:
    """One tensor's ``BundleEntryProto``."""

    key: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int

    @property
    def dtype_name(self) -> str:
        if self.dtype == _DT_STRING:
            return "string"
        if self.dtype == _DT_BFLOAT16:
            return "bfloat16"
        return _DTYPES.get(self.dtype) or _DT_NAMES.get(self.dtype, f"DataType {self.dtype}")


def confined(path: str, root: str, where: str) -> str:
    """``path`` if it resolves inside directory ``root`` (symlinks followed); a clear error if not."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, base]) != base:
        raise BundleError(f"{where}: {path!r} leads outside {root!r} (to {real!r}): refusing to read it")
    return path


# ---- the LevelDB-format table ----------------------------------------------------------------------


def _handle(buf: Any, pos: int, end: int, what: str) -> tuple[int, int, int]:
    offset, pos = read_varint(buf, pos, end, what)
    size, pos = read_varint(buf, pos, end, what)
    return offset, size, pos


def _block(buf: memoryview, offset: int, size: int, where: str, what: str) -> memoryview:
    """A block's contents, after checking it fits the file and its masked crc32c."""
    if offset + size + 5 > len(buf):
        raise BundleError(f"{where}: the {what} at byte {offset} ({size} bytes) runs past the end of the "
                          f"{len(buf)}-byte index (truncated?)")
    contents = buf[offset: offset + size + 1]  # with the compression-type byte, which the crc covers
    kind = buf[offset + size]
    stored = struct.unpack_from("<I", buf, offset + size + 1)[0]
    if masked_crc32c(contents) != stored:
        raise BundleError(f"{where}: the {what} at byte {offset} fails its crc32c check (corrupt)")
    if kind != 0:
        raise BundleError(f"{where}: the {what} is compressed (type {kind}); TensorFlow writes bundle "
                          "indexes uncompressed: refusing")
    return buf[offset: offset + size]


def _block_entries(block: memoryview, where: str, what: str) -> list[tuple[bytes, memoryview]]:
    """The (key, value) entries of a table block (keys prefix-compressed against the previous one)."""
    n = len(block)
    if n < 4:
        raise BundleError(f"{where}: the {what} is {n} bytes, too short for a table block")
    restarts = struct.unpack_from("<I", block, n - 4)[0]
    limit = n - 4 - 4 * restarts
    if restarts == 0 or limit < 0:
        raise BundleError(f"{where}: the {what} declares {restarts} restart points (corrupt)")
    out: list[tuple[bytes, memoryview]] = []
    key = b""
    pos = 0
    while pos < limit:
        shared, pos = read_varint(block, pos, limit, where)
        unshared, pos = read_varint(block, pos, limit, where)
        vlen, pos = read_varint(block, pos, limit, where)
        if shared > len(key) or unshared + vlen > limit - pos:
            raise BundleError(f"{where}: an entry of the {what} overruns its block (corrupt)")
        key = key[:shared] + bytes(block[pos: pos + unshared])
        pos += unshared
        out.append((key, block[pos: pos + vlen]))
        pos += vlen
        if len(out) > MAX_BUNDLE_ENTRIES:
            raise BundleError(f"{where}: more than {MAX_BUNDLE_ENTRIES} entries: refusing")
    return out


def read_table(raw: bytes, where: str) -> dict[str, memoryview]:
    """All key -> value pairs of a LevelDB-format table (the bundle's ``.index``)."""
    buf = memoryview(raw)
    if len(buf) < _FOOTER:
        raise BundleError(f"{where} is {len(buf)} bytes, too short for a tensor bundle index (truncated?)")
    magic = struct.unpack_from("<Q", buf, len(buf) - 8)[0]
    if magic != _TABLE_MAGIC:
        raise BundleError(f"{where} does not end in the LevelDB table magic number: not a tensor bundle "
                          "index (or truncated)")
    foot = len(buf) - _FOOTER
    try:
        _, _, pos = _handle(buf, foot, len(buf) - 8, where)  # the metaindex block: unused
        index_offset, index_size, _ = _handle(buf, pos, len(buf) - 8, where)
    except ProtoError as e:
        raise BundleError(f"{where}: corrupt table footer ({e})") from None
    out: dict[str, memoryview] = {}
    for _, handle in _block_entries(_block(buf, index_offset, index_size, where, "index block"), where,
                                    "index block"):
        try:
            offset, size, _ = _handle(handle, 0, len(handle), where)
        except ProtoError as e:
            raise BundleError(f"{where}: corrupt block handle in the index block ({e})") from None
        for key, value in _block_entries(_block(buf, offset, size, where, "data block"), where, "data block"):
            try:
                out[key.decode("utf-8")] = value
            except UnicodeDecodeError:
                raise BundleError(f"{where}: a key is not UTF-8 text: {key[:60]!r}") from None
            if len(out) > MAX_BUNDLE_ENTRIES:
                raise BundleError(f"{where}: more than {MAX_BUNDLE_ENTRIES} entries: refusing")
    return out


# ---- the bundle ---------------------------------------------------------------------------------------


def _entry(key: str, value: memoryview, where: str) -> BundleEntry:
    what = f"entry {key!r} of {where}"
    msg = parse(value, _ENTRY, what)
    if msg["slices"]:
        raise BundleError(f"{what} is a partitioned (sliced) variable: not supported")
    shape = msg.get("shape", {})
    if shape.get("unknown_rank"):
        raise BundleError(f"{what} has an unknown rank")
    dims = tuple(int(d.get("size", 0)) for d in shape.get("dim", []))
    if any(d < 0 for d in dims) or len(dims) > 32:
        raise BundleError(f"{what} has an invalid shape {dims}")
    entry = BundleEntry(key, int(msg.get("dtype", 0)), dims, int(msg.get("shard_id", 0)),
                        int(msg.get("offset", 0)), int(msg.get("size", 0)), int(msg.get("crc32c", 0)))
    if entry.offset < 0 or entry.size < 0:
        raise BundleError(f"{what} declares offset {entry.offset} and size {entry.size}")
    return entry


class TensorBundle:
    """An open tensor bundle: its entries, and each tensor read and crc-checked on request.

    ``prefix`` is the path without ``.index``; files outside ``root`` (default: the prefix's
    directory) are never opened; ``max_bytes`` caps a single tensor."""

    def __init__(self, prefix: str, root: str | None = None, max_bytes: int = guards.DEFAULT_MAX_BYTES) -> None:
        self.prefix = prefix
        self.root = root if root is not None else (os.path.dirname(prefix) or ".")
        self.max_bytes = max_bytes
        self.index_path = prefix + ".index"
        where = repr(self.index_path)
        if not os.path.exists(self.index_path):
            raise FileNotFoundError(f"no tensor bundle index {self.index_path!r} (a TensorFlow checkpoint "
                                    "is PREFIX.index + PREFIX.data-*)")
        confined(self.index_path, self.root, where)
        size = guards.check_regular_file(self.index_path)
        if size > MAX_INDEX_BYTES:
            raise BundleError(f"{where} is {size} bytes; a bundle index over {MAX_INDEX_BYTES} bytes is refused")
        with open(self.index_path, "rb") as f:
            table = read_table(f.read(MAX_INDEX_BYTES + 1), where)
        if "" not in table:
            raise BundleError(f"{where} has no bundle header (key \"\"): not a TensorFlow tensor bundle")
        header = parse(table.pop(""), _HEADER, f"the bundle header of {where}")
        self.num_shards = int(header.get("num_shards", 0))
        if not 1 <= self.num_shards <= 100_000:
            raise BundleError(f"{where}: the bundle header declares {self.num_shards} data shards")
        if int(header.get("version", {}).get("min_consumer", 0)) > 1:
            raise BundleError(f"{where}: written by a newer TensorFlow bundle format "
                              f"(min_consumer {header['version']['min_consumer']}): refusing")
        self.big_endian = int(header.get("endianness", 0)) == 1
        self.entries = {k: _entry(k, v, where) for k, v in table.items()}
        self._files: dict[int, tuple[BinaryIO, int, str]] = {}
        self.data_bytes = 0
        for e in self.entries.values():
            if not 0 <= e.shard_id < self.num_shards:
                raise BundleError(f"entry {e.key!r} of {where} is in shard {e.shard_id}, but the bundle has "
                                  f"{self.num_shards}")
        for shard in sorted({e.shard_id for e in self.entries.values()}):
            self.data_bytes += self._shard(shard)[1]

    def shard_path(self, shard: int) -> str:
        return f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}"

    def _shard(self, shard: int) -> tuple[BinaryIO, int, str]:
        if shard not in self._files:
            path = self.shard_path(shard)
            if not os.path.exists(path):
                raise BundleError(f"data shard {path!r} of {self.index_path!r} is missing")
            confined(path, self.root, repr(self.index_path))
            size = guards.check_regular_file(path)
            self._files[shard] = (open(path, "rb"), size, path)
        return self._files[shard]

    def close(self) -> None:
        for f, _, _ in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> TensorBundle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _bytes(self, entry: BundleEntry) -> bytes:
        f, size, path = self._shard(entry.shard_id)
        what = f"tensor {entry.key!r} in {path!r}"
        if entry.offset + entry.size > size:
            raise BundleError(f"{what} declares {entry.size} bytes at offset {entry.offset}, but the shard "
                              f"holds {size} bytes (truncated?)")
        if entry.size > self.max_bytes:
            raise BundleError(f"{what} declares {entry.size} bytes, over max_bytes={self.max_bytes}: refusing")
        f.seek(entry.offset)
        data = f.read(entry.size)
        if len(data) != entry.size:
            raise BundleError(f"{what}: read {len(data)} of {entry.size} bytes (truncated?)")
        return data

    def entry(self, key: str) -> BundleEntry:
        try:
            return self.entries[key]
        except KeyError:
            raise BundleError(f"{self.index_path!r} has no tensor {key!r}") from None

    def read(self, key: str) -> np.ndarray:
        """The numeric tensor under ``key``, after its crc32c check."""
        entry = self.entry(key)
        what = f"tensor {key!r} of {self.index_path!r}"
        if entry.dtype == _DT_BFLOAT16:
            np_dtype = np.dtype(">u2" if self.big_endian else "<u2")
        elif entry.dtype in _DTYPES:
            np_dtype = np.dtype(_DTYPES[entry.dtype]).newbyteorder(">" if self.big_endian else "<")
        else:
            raise BundleError(f"{what} holds {entry.dtype_name} data, not numbers")
        need = math.prod(entry.shape) * np_dtype.itemsize
        if need != entry.size:
            raise BundleError(f"{what}: shape {entry.shape} of {entry.dtype_name} needs {need} bytes, the "
                              f"entry declares {entry.size}")
        data = self._bytes(entry)
        if masked_crc32c(data) != entry.crc32c:
            raise BundleError(f"{what} fails its crc32c check (corrupt data in {self.shard_path(entry.shard_id)!r})")
        out = np.frombuffer(data, dtype=np_dtype).reshape(entry.shape)
        if entry.dtype == _DT_BFLOAT16:
            return (out.astype(np.uint32) << 16).view(np.float32)
        return out.astype(np_dtype.newbyteorder("="))

    def read_string(self, key: str) -> bytes:
        """The scalar string tensor under ``key`` (such as ``_CHECKPOINTABLE_OBJECT_GRAPH``), after
        its crc32c checks. Layout: varint length, masked crc32c of the length, the bytes."""
        entry = self.entry(key)
        what = f"tensor {key!r} of {self.index_path!r}"
        if entry.dtype != _DT_STRING or entry.shape != ():
            raise BundleError(f"{what} is a {entry.dtype_name} tensor of shape {entry.shape}, expected a string")
        data = self._bytes(entry)
        try:
            length, pos = read_varint(data, 0, len(data), what)
        except ProtoError as e:
            raise BundleError(str(e)) from None
        if pos + 4 + length != len(data) or length > 0xFFFFFFFF:
            raise BundleError(f"{what}: a {length}-byte string does not fit its {len(data)}-byte entry (corrupt)")
        crc = crc32c(struct.pack("<I", length))
        if mask(crc) != struct.unpack_from("<I", data, pos)[0]:
            raise BundleError(f"{what}: the string length fails its crc32c check (corrupt)")
        crc = crc32c(data[pos + 4:], crc32c(data[pos: pos + 4], crc))
        if mask(crc) != entry.crc32c:
            raise BundleError(f"{what} fails its crc32c check (corrupt)")
        return data[pos + 4:]
