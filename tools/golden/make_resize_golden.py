#!/usr/bin/python3
"""Golden values for glia's bilinear resize (include/glia/data/resize.hpp).

Writes tests/fixtures/resize_bilinear.glfix (GLIAFIX1, see tests/fixtures/README.md), read by
tests/test_image_geometry.cpp. For each case k it stores
  case<k>.input  [1, C, H, W]   uint8 pixel values (held as float32), drawn from a seeded
                                torch.Generator, with the extremes 0 and 255 in the first pixels;
  case<k>.float  [1, C, OH, OW] torch.nn.functional.interpolate(input as float32, size=(OH, OW),
                                mode="bilinear", align_corners=False, antialias=False);
  case<k>.uint8  [1, C, OH, OW] that result clamped to [0, 255] and rounded with torch.round
                                (half to even), which is what torchvision's Resize(antialias=False)
                                does to a uint8 tensor (torchvision.transforms.functional_tensor.resize:
                                float32, interpolate, clamp, round, cast back).
torchvision itself is not needed (Debian's python3-torch 1.13 has no torchvision).

Run with Debian's python3 (the pyenv python3 first on PATH cannot import torch):
    /usr/bin/python3 tools/golden/make_resize_golden.py [--out tests/fixtures]
The output is deterministic: the same seed gives byte-identical files.
"""
import argparse
import os
import struct

import torch
import torch.nn.functional as F

# (C, H, W, OH, OW): up, down, mixed, identity, from a single pixel, MNIST -> 32, CIFAR -> 20x28.
CASES = [
    (3, 5, 7, 8, 11),
    (1, 20, 28, 7, 9),
    (3, 6, 6, 12, 3),
    (1, 4, 5, 4, 5),
    (1, 1, 1, 3, 2),
    (1, 28, 28, 32, 32),
    (3, 32, 32, 20, 28),
    (2, 9, 4, 5, 13),
]


def record(name, tensor):
    t = tensor.detach().to(torch.float32).contiguous()
    nb = name.encode()
    out = struct.pack("<I", len(nb)) + nb + struct.pack("<II", 1, t.dim())
    out += struct.pack(f"<{t.dim()}q", *t.shape)
    out += struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures"))
    ap.add_argument("--seed", type=int, default=20261207)
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(args.seed)
    records = []
    for k, (c, h, w, oh, ow) in enumerate(CASES):
        x = torch.randint(0, 256, (1, c, h, w), generator=gen, dtype=torch.int64).to(torch.float32)
        flat = x.view(-1)
        flat[0] = 0
        if flat.numel() > 1:
            flat[1] = 255
        y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False, antialias=False)
        u8 = torch.round(y.clamp(0, 255))
        records += [record(f"case{k}.input", x), record(f"case{k}.float", y), record(f"case{k}.uint8", u8)]
    path = os.path.join(args.out, "resize_bilinear.glfix")
    with open(path, "wb") as f:
        f.write(b"GLIAFIX1" + struct.pack("<I", len(records)) + b"".join(records))
    print(f"wrote {path}: {len(CASES)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
