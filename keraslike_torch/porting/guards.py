"""Reading untrusted Keras files safely: nothing outside the file, bounded memory, clear errors.

Every check here runs BEFORE the read or allocation it protects:

* paths: only regular files are opened (a FIFO would block forever, a device never ends);
* HDF5: the whole link tree is audited once, iteratively, at open: external links, soft links and
  user-defined links are refused, each group may be reached once (no hard-link cycles or aliases),
  depth and object count are bounded; datasets with external raw storage, virtual layouts or
  filters outside HDF5's built-in set (which would load plugins) are refused; a dataset's declared
  shape must be backed by storage actually written in the file before it is allocated;
* attributes are checked with the low-level API (datatype class, rank, size) before reading;
* zip members are stream-read with a hard cap (declared size, compression ratio, ``max_bytes``);
* JSON: size and nesting depth are checked before parsing (never a RecursionError).

Foreign exceptions escaping a load are re-raised as :class:`KerasFileError` naming the file and
the part being read (:func:`reading`, :func:`wrap_foreign`).
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = [
    "KerasFileError",
    "DEFAULT_MAX_BYTES",
    "check_regular_file",
    "parse_json",
    "zip_read",
    "audit_hdf5",
    "read_attr",
    "read_dataset",
    "reading",
    "current_part",
    "wrap_foreign",
]

DEFAULT_MAX_BYTES = 8 * 2**30  # largest zip member / decompressed dataset read by default
MAX_ZIP_RATIO = 200  # a deflated member over 16 MiB may expand at most this much (weights: ~1.1)
MAX_JSON_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 256  # Keras configs nest ~12 levels per nested model
MAX_H5_DEPTH = 64
MAX_H5_OBJECTS = 200_000
MAX_ATTR_ELEMENTS = 1_000_000
MAX_FILTER_RATIO = 1100  # deflate expands at most ~1032x
_SMALL = 16 * 2**20


class KerasFileError(ValueError):
    """A file that is not a readable Keras file: unknown format, corrupt, truncated, inconsistent
    or hostile (links out of the file, resources far beyond what the file holds)."""


# ---- what is being read (for error messages) ----------------------------------------------------

_PART: contextvars.ContextVar[str | None] = contextvars.ContextVar("keraslike_torch_part", default=None)


@contextmanager
def reading(part: str) -> Iterator[None]:
    """Record ``part`` (a layer, dataset path, zip member) as what is being read right now."""
    token = _PART.set(part)
    try:
        yield
    except Exception as e:
        tag_part(e, part)
        raise
    finally:
        _PART.reset(token)


def tag_part(e: BaseException, part: str) -> None:
    """Note on ``e`` where it happened (a layer, dataset, zip member), unless an inner part did
    already: :func:`wrap_foreign` and the model's load-time checks name the innermost part."""
    if not hasattr(e, "_keraslike_part"):
        try:
            e._keraslike_part = part  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover
            pass


def part_of(e: BaseException) -> str | None:
    """The innermost part :func:`tag_part` noted on ``e`` (None if none)."""
    return getattr(e, "_keraslike_part", None)


def current_part() -> str | None:
    return _PART.get()


_WRAPPED: dict[type, type] = {}


def wrap_foreign(e: BaseException, where: str, part: str | None = None) -> KerasFileError:
    """A :class:`KerasFileError` for a foreign exception ``e`` raised while reading ``where``.
    A TypeError stays a TypeError too (its class derives from both)."""
    part = part or part_of(e) or current_part()
    prefix = f"{where}{': ' + part if part else ''}"
    if type(e) is ValueError:  # a layer's own message (e.g. weight shapes): keep it, add the file
        return KerasFileError(f"{prefix}: {e}")
    kind = "nesting too deep" if isinstance(e, RecursionError) else (
        "out of memory" if isinstance(e, MemoryError) else type(e).__name__)
    msg = f"{prefix}: cannot be read ({kind}: {e})"
    if isinstance(e, TypeError):
        cls = _WRAPPED.setdefault(TypeError, type("KerasFileTypeError", (KerasFileError, TypeError), {}))
        return cls(msg)  # type: ignore[no-any-return]
    return KerasFileError(msg)


# ---- paths ---------------------------------------------------------------------------------------


def check_regular_file(path: str | os.PathLike) -> int:
    """The size of ``path`` if it is a regular file (symlinks followed); a clear error otherwise,
    before anything opens it (a FIFO would block, a device would never end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such Keras file: {os.fspath(path)!r}") from None
    if stat.S_ISDIR(st.st_mode):
        raise KerasFileError(
            f"{os.fspath(path)!r} is a directory (a TensorFlow SavedModel?) without saved_model.pb; only "
            ".keras, .h5 and JSON files, SavedModel directories and TF checkpoint prefixes can be read"
        )
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise KerasFileError(f"{os.fspath(path)!r} is {kind}, not a regular file: refusing to read it")
    return int(st.st_size)


# ---- JSON ------------------------------------------------------------------------------------------


_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)


def json_depth(text: str | bytes) -> int:
    """Maximum bracket nesting of JSON ``text`` (strings skipped), without recursion."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    b = np.frombuffer(_JSON_STRING.sub(b"", raw), dtype=np.uint8)
    step = np.zeros(b.size, dtype=np.int32)
    step[(b == 0x5B) | (b == 0x7B)] = 1
    step[(b == 0x5D) | (b == 0x7D)] = -1
    return int(np.cumsum(step).max(initial=0))


def parse_json(text: bytes | str, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` with a size and nesting-depth limit: a KerasFileError, never RecursionError."""
    if len(text) > MAX_JSON_BYTES:
        raise KerasFileError(f"{what} is {len(text)} bytes of JSON; refusing more than {MAX_JSON_BYTES}")
    depth = json_depth(text)
    if depth > max_depth:
        raise KerasFileError(f"{what} nests {depth} levels deep; Keras configs nest far less (limit {max_depth})")
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise KerasFileError(f"{what} is not valid JSON: {e}") from None


# ---- zip -------------------------------------------------------------------------------------------


def zip_read(archive: zipfile.ZipFile, name: str, where: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Member ``name`` of ``archive``, refused when its declared size exceeds ``max_bytes`` or its
    compression ratio is that of a zip bomb; read in chunks with a hard cap (never trusting the
    header)."""
    info = archive.getinfo(name)
    if info.file_size > max_bytes:
        raise KerasFileError(
            f"{name} in {where} claims {info.file_size} bytes, over max_bytes={max_bytes}: refusing "
            "(zip bomb?)"
        )
    if info.file_size > _SMALL and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
        raise KerasFileError(
            f"{name} in {where} expands {info.compress_size} bytes to {info.file_size} "
            f"(ratio over {MAX_ZIP_RATIO}): refusing (zip bomb?)"
        )
    cap = info.file_size
    chunks: list[bytes] = []
    got = 0
    try:
        with archive.open(info) as f:
            while True:
                chunk = f.read(min(2**24, cap - got + 1))
                if not chunk:
                    break
                got += len(chunk)
                if got > cap:
                    raise KerasFileError(f"{name} in {where} inflates past its declared {cap} bytes: refusing")
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as e:
        if isinstance(e, KerasFileError):
            raise
        raise KerasFileError(f"cannot read {name} from {where}: {e} (truncated or corrupt?)") from None
    if got != cap:
        raise KerasFileError(f"{name} in {where} holds {got} bytes, its header says {cap} (corrupt?)")
    return b"".join(chunks)


# ---- HDF5 ------------------------------------------------------------------------------------------

_FILTERS: dict[int, str] = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit",
                            6: "scaleoffset", 32000: "lzf"}


def _check_dcpl(dsid: Any, where: str) -> Any:
    """Refuse external raw storage, virtual datasets and non-built-in filters; return the dcpl."""
    from h5py import h5d

    dcpl = dsid.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5d.VIRTUAL:
        raise KerasFileError(f"{where} is a virtual dataset (its data lives in other files): refusing")
    if layout not in (h5d.CONTIGUOUS, h5d.CHUNKED, h5d.COMPACT):
        raise KerasFileError(f"{where} has an unknown storage layout {layout}: refusing")
    if dcpl.get_external_count() > 0:
        first = dcpl.get_external(0)[0]
        raise KerasFileError(f"{where} keeps its data in an external file {first!r}: refusing to read outside the file")
    for i in range(dcpl.get_nfilters()):
        code = int(dcpl.get_filter(i)[0])
        if code not in _FILTERS:
            raise KerasFileError(
                f"{where} uses HDF5 filter {code}, not a built-in one (it would load a plugin): refusing"
            )
    return dcpl


_GCOL = b"GCOL\x01"
_GCOL_HEADER = 16  # signature, version, 3 reserved, 8-byte collection size
_GCOL_OBJECT_HEADER = 16  # index (2), reference count (2), reserved (4), size (8)


def check_global_heaps(buf: Any, where: str) -> None:
    """Validate every HDF5 global heap collection in ``buf`` (the file's bytes) the way libhdf5
    parses it, before libhdf5 does. Variable-length strings (``model_config``, ``layer_names``,
    ``weight_names``) live there, and libhdf5 1.14 walks a collection trusting each object's size:
    one flipped size byte sends its pointer past the collection, which hangs or crashes the process
    (SIGSEGV) on the first string attribute read. Assumes 8-byte lengths (what h5py writes)."""
    size = len(buf)
    at = buf.find(_GCOL)
    while at != -1:
        if at + _GCOL_HEADER <= size:
            total = int.from_bytes(buf[at + 8: at + 16], "little")
            reserved_clear = buf[at + 5: at + 8] == b"\0\0\0"
            if not 4096 <= total <= size - at:
                if reserved_clear:
                    raise KerasFileError(
                        f"{where}: the HDF5 global heap at byte {at} declares {total} bytes (corrupt or truncated)"
                    )
            else:
                _check_collection(buf, at, total, where)
        at = buf.find(_GCOL, at + 1)


def _check_collection(buf: Any, start: int, total: int, where: str) -> None:
    end = start + total
    p = start + _GCOL_HEADER
    while p < end:
        if p + _GCOL_OBJECT_HEADER > end:
            return  # a tail too small for an object header is free space
        index = int.from_bytes(buf[p: p + 2], "little")
        length = int.from_bytes(buf[p + 8: p + 16], "little")
        need = length if index == 0 else _GCOL_OBJECT_HEADER + ((length + 7) & ~7)
        if need <= 0 or p + need > end:
            raise KerasFileError(
                f"{where}: object {index} of the HDF5 global heap at byte {start} claims {length} bytes, which do "
                f"not fit its {total}-byte collection (corrupt): refusing before libhdf5 reads it"
            )
        p += need


def audit_hdf5(root: Any, where: str) -> None:
    """Walk the whole link tree of an open HDF5 file once, without following anything out of it:
    refuse external, soft and user-defined links, groups reached twice (hard-link cycles or
    aliases), trees deeper than MAX_H5_DEPTH or larger than MAX_H5_OBJECTS, and datasets stored
    outside the file or through plugin filters."""
    try:
        _audit(root, where)
    except (KeyError, RuntimeError, OSError, ValueError) as e:
        if isinstance(e, KerasFileError):
            raise
        raise KerasFileError(f"{where}: the HDF5 tree is corrupt ({e})") from None


def _audit(root: Any, where: str) -> None:
    from h5py import h5i, h5l, h5o

    def address(oid: Any) -> tuple[Any, int]:
        info = h5o.get_info(oid)
        return (info.fileno, int(info.addr))

    seen = {address(root.id)}
    stack: list[tuple[Any, str, int]] = [(root.id, "", 0)]
    count = 0
    while stack:
        gid, path, depth = stack.pop()
        links: list[tuple[bytes, int]] = []

        def collect(name: bytes, info: Any, links: list = links) -> Any:
            links.append((name, info.type))
            return True if len(links) > MAX_H5_OBJECTS else None

        gid.links.iterate(collect, info=True)
        count += len(links)
        if count > MAX_H5_OBJECTS:
            raise KerasFileError(f"{where} holds more than {MAX_H5_OBJECTS} HDF5 objects: refusing")
        for name, kind in links:
            sub = f"{path}/{name.decode('utf-8', 'replace')}"
            if kind == h5l.TYPE_EXTERNAL:
                target = gid.links.get_val(name)
                raise KerasFileError(f"{where}: {sub!r} is an external link to {target!r}: refusing to leave the file")
            if kind == h5l.TYPE_SOFT:
                target = gid.links.get_val(name)
                raise KerasFileError(
                    f"{where}: {sub!r} is a soft link to {target!r}; Keras files hold no links (they can lead "
                    "out of the tree or into a cycle): refusing"
                )
            if kind != h5l.TYPE_HARD:
                raise KerasFileError(f"{where}: {sub!r} is a user-defined HDF5 link (type {kind}): refusing")
            oid = h5o.open(gid, name)
            otype = h5i.get_type(oid)
            if otype == h5i.GROUP:
                key = address(oid)
                if key in seen:
                    raise KerasFileError(
                        f"{where}: group {sub!r} is linked a second time (a hard-link cycle or alias): refusing"
                    )
                seen.add(key)
                if depth + 1 > MAX_H5_DEPTH:
                    raise KerasFileError(f"{where}: groups nest deeper than {MAX_H5_DEPTH} levels at {sub!r}")
                stack.append((oid, sub, depth + 1))
            elif otype == h5i.DATASET:
                _check_dcpl(oid, f"dataset {sub!r} of {where}")


H5_ERRORS = (KeyError, RuntimeError, OSError, ValueError, OverflowError, TypeError)


def read_attr(obj: Any, name: str, where: str) -> Any:
    """Attribute ``name`` of an h5py object (None when absent), decoded to str / list / number.
    Its datatype class, rank and size are checked with the low-level API before it is read."""
    try:
        return _read_attr(obj, name, where)
    except H5_ERRORS as e:
        if isinstance(e, KerasFileError):
            raise
        raise KerasFileError(f"attribute {name!r} of {where} cannot be read: {e} (corrupt file)") from None


def _read_attr(obj: Any, name: str, where: str) -> Any:
    from h5py import h5a, h5s, h5t

    key = name.encode()
    if not h5a.exists(obj.id, key):
        return None
    label = f"attribute {name!r} of {where}"
    aid = h5a.open(obj.id, key)
    space = aid.get_space()
    stype = space.get_simple_extent_type()
    if stype == h5s.NULL:
        return None
    if stype not in (h5s.SCALAR, h5s.SIMPLE):
        raise KerasFileError(f"{label} has an unknown dataspace: refusing")
    shape = space.shape if stype == h5s.SIMPLE else ()
    if len(shape) > 1 or math.prod(shape) > MAX_ATTR_ELEMENTS:
        raise KerasFileError(f"{label} has shape {shape}; expected a string or a list of strings")
    tid = aid.get_type()
    cls = tid.get_class()
    if cls == h5t.STRING:
        if not tid.is_variable_str() and tid.get_size() * max(1, math.prod(shape)) > MAX_JSON_BYTES:
            raise KerasFileError(f"{label} claims {tid.get_size()}-byte strings: refusing")
    elif cls not in (h5t.INTEGER, h5t.FLOAT):
        raise KerasFileError(f"{label} is of HDF5 type class {cls}; expected strings")
    return _decode(obj.attrs[name])


def _decode(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.size == 0:
        return []
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError as e:
            raise KerasFileError(f"an attribute is not UTF-8 text: {e}") from None
    if isinstance(v, np.ndarray) and v.dtype.kind in "SOU":
        return [_decode(x) for x in v.tolist()]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_dataset(ds: Any, where: str, file_size: int | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """A numeric dataset as an array. Before allocating, its layout, filters and datatype are
    checked and its declared shape must be backed by storage written in the file (allowing for
    compression): a 19 KB file cannot declare a 3.6 GB array."""
    try:
        return _read_dataset(ds, where, file_size, max_bytes)
    except H5_ERRORS as e:
        if isinstance(e, KerasFileError):
            raise
        raise KerasFileError(f"cannot read {where}: {e} (truncated or corrupt file?)") from None


def _read_dataset(ds: Any, where: str, file_size: int | None, max_bytes: int) -> np.ndarray:
    import h5py
    from h5py import h5t

    if not isinstance(ds, h5py.Dataset):
        raise KerasFileError(f"{where} is not an array")
    dsid = ds.id
    dcpl = _check_dcpl(dsid, where)
    tid = dsid.get_type()
    if tid.get_class() not in (h5t.INTEGER, h5t.FLOAT, h5t.ENUM):
        raise KerasFileError(f"{where} holds HDF5 type class {tid.get_class()} data, not numbers")
    dtype = ds.dtype
    if dtype.kind not in "fiub":
        raise KerasFileError(f"{where} holds {dtype} data, not numbers")
    shape = tuple(int(d) for d in ds.shape)
    need = math.prod(shape) * dtype.itemsize
    if need:
        storage = int(dsid.get_storage_size())
        filtered = dcpl.get_nfilters() > 0
        if storage == 0:
            raise KerasFileError(f"{where} declares shape {shape} but no data is written for it: refusing")
        if not filtered and storage < need:
            raise KerasFileError(
                f"{where} declares shape {shape} ({need} bytes) but stores only {storage} bytes: refusing"
            )
        if filtered and (need > storage * MAX_FILTER_RATIO or need > max_bytes):
            raise KerasFileError(
                f"{where} declares shape {shape} ({need} bytes) from {storage} compressed bytes: refusing"
            )
        if file_size is not None and storage > file_size:
            raise KerasFileError(
                f"{where} claims {storage} bytes of storage in a {file_size}-byte file (truncated or corrupt)"
            )
    out = np.empty(shape, dtype=dtype)
    if out.size:
        ds.read_direct(out)
    return out
