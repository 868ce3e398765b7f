"""A small protobuf wire-format reader: only the fields a schema names are decoded, the rest skipped.

Protobuf messages are sequences of ``(field number, wire type, value)``; length-delimited values
(strings, bytes, nested messages) are slices of the buffer, so skipping a 2 GB ``GraphDef`` costs
nothing. A schema maps field numbers to ``(name, kind)`` with kind one of ``"int"``, ``"bool"``,
``"str"``, ``"bytes"``, ``"raw"`` (a zero-copy ``memoryview``), ``"fixed32"``, ``"fixed64"``,
or a nested schema (a dict) for a message;
a name ending in ``[]`` is repeated. Schemas are finite trees, so nesting depth is bounded by the
schema; every length is checked against the bytes left before anything is sliced.

>>> parse(b"\\x08\\x96\\x01\\x12\\x02hi", {1: ("n", "int"), 2: ("s", "str")})
{'n': 150, 's': 'hi'}
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, Union

from ..guards import KerasFileError

__all__ = ["ProtoError", "Schema", "read_varint", "fields", "parse"]

Schema = dict[int, tuple[str, Union[str, "Schema"]]]

_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


class ProtoError(KerasFileError):
    """Bytes that are not a well-formed protobuf message of the expected kind."""


def read_varint(buf: Any, pos: int, end: int, what: str) -> tuple[int, int]:
    """The base-128 varint at ``buf[pos]`` (at most 10 bytes, before ``end``) and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ProtoError(f"{what}: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise ProtoError(f"{what}: varint longer than 10 bytes")


def fields(buf: Any, what: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` for each field of the message in ``buf[start:end]``:
    an int for varints and fixed-width values, a ``memoryview`` slice for length-delimited ones."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    end = len(view) if end is None else end
    pos = start
    while pos < end:
        key, pos = read_varint(view, pos, end, what)
        number, wire = key >> 3, key & 7
        value: Any
        if number == 0:
            raise ProtoError(f"{what}: field number 0 at byte {pos} (not a protobuf message)")
        if wire == _VARINT:
            value, pos = read_varint(view, pos, end, what)
        elif wire == _FIXED64:
            if pos + 8 > end:
                raise ProtoError(f"{what}: truncated 64-bit field {number}")
            value = struct.unpack_from("<Q", view, pos)[0]
            pos += 8
        elif wire == _FIXED32:
            if pos + 4 > end:
                raise ProtoError(f"{what}: truncated 32-bit field {number}")
            value = struct.unpack_from("<I", view, pos)[0]
            pos += 4
        elif wire == _LENGTH:
            length, pos = read_varint(view, pos, end, what)
            if length > end - pos:
                raise ProtoError(f"{what}: field {number} declares {length} bytes but only {end - pos} remain")
            value = view[pos: pos + length]
            pos += length
        else:  # groups (wire types 3, 4) are proto2-only and absent from the messages we read
            raise ProtoError(f"{what}: unsupported wire type {wire} for field {number}")
        yield number, wire, value


def _convert(value: Any, wire: int, kind: str | Schema, what: str) -> Any:
    if isinstance(kind, dict):
        if wire != _LENGTH:
            raise ProtoError(f"{what}: expected a nested message, got wire type {wire}")
        return parse(value, kind, what)
    if kind in ("str", "bytes", "raw"):
        if wire != _LENGTH:
            raise ProtoError(f"{what}: expected a string, got wire type {wire}")
        if kind == "raw":
            return value
        raw = bytes(value)
        if kind == "bytes":
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtoError(f"{what}: not UTF-8 text ({e})") from None
    if kind == "fixed32" and wire != _FIXED32 or kind == "fixed64" and wire != _FIXED64:
        raise ProtoError(f"{what}: expected a {kind} field, got wire type {wire}")
    if kind in ("int", "bool") and wire != _VARINT:
        raise ProtoError(f"{what}: expected an integer, got wire type {wire}")
    if kind == "int" and value >= 1 << 63:  # int32/int64 negatives are 10-byte two's complement
        value -= 1 << 64
    return bool(value) if kind == "bool" else value


def parse(buf: Any, schema: Schema, what: str = "protobuf message") -> dict[str, Any]:
    """The fields of ``schema`` found in message ``buf`` (a repeated field -> a list, possibly
    empty; an absent scalar -> absent from the dict; unknown fields skipped)."""
    out: dict[str, Any] = {name[:-2]: [] for name, _ in schema.values() if name.endswith("[]")}
    for number, wire, value in fields(buf, what):
        spec = schema.get(number)
        if spec is None:
            continue
        name, kind = spec
        label = f"{what}.{name.rstrip('[]')}"
        if name.endswith("[]"):
            if wire == _LENGTH and kind in ("int", "bool"):  # packed repeated integers
                items = []
                pos, end = 0, len(value)
                while pos < end:
                    item, pos = read_varint(value, pos, end, label)
                    items.append(_convert(item, _VARINT, kind, label))
                out[name[:-2]].extend(items)
            else:
                out[name[:-2]].append(_convert(value, wire, kind, label))
        else:
            out[name] = _convert(value, wire, kind, label)
    return out
