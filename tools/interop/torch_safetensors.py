"""A tiny safetensors reader and writer for PyTorch tensors (the `safetensors` package may be
absent): the same file layout as safetensors.torch.save_file / load_file.

  save_file({"c1.0.weight": tensor, ...}, path, metadata=None)
  load_file(path) -> {name: tensor}; read_metadata(path) -> dict

Layout: 8-byte little-endian header length N, N bytes of JSON ({name: {"dtype", "shape",
"data_offsets"}}, optional "__metadata__"), padded with spaces to a multiple of 8, then the
little-endian row-major data. Tensors are written in the reference writer's order (larger
dtypes first, then by name).
"""
import json
import struct

import torch

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}
FROM_NAME = {v: k for k, v in DTYPES.items()}


def _raw(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save_file(tensors, path, metadata=None):
    order = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, t in order:
        b = _raw(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def _header(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def read_metadata(path):
    return _header(path)[0].get("__metadata__", {})


def load_file(path):
    header, buf = _header(path)
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        dtype = FROM_NAME[e["dtype"]]
        chunk = bytearray(buf[begin:end])
        t = torch.frombuffer(chunk, dtype=dtype) if chunk else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"]).clone()
    return out
