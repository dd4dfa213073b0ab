"""Minimal safetensors reader/writer with NumPy only.

Format: 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON
{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 "__metadata__": {str: str}} (optional), then the raw little-endian tensor bytes; offsets are
relative to the start of the data section.
"""

import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_KIND_NAMES = {(v.kind, v.itemsize): k for k, v in _DTYPES.items()}


def load(path):
    """Return {name: np.ndarray} (BF16 is widened to float32)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = buf[base + begin : base + end]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]])
        out[name] = arr.reshape(shape).copy()
    return out


def save(path, tensors, metadata=None):
    """Write {name: np.ndarray}; tensors are laid out in sorted key order."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name], order="C")  # (ascontiguousarray turns 0-d into 1-d)
        key = (arr.dtype.kind, arr.dtype.itemsize)
        if key not in _KIND_NAMES:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        dt_name = _KIND_NAMES[key]
        data = arr.astype(_DTYPES[dt_name], copy=False).tobytes()
        header[name] = {
            "dtype": dt_name,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # pad header to 8-byte alignment
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)
