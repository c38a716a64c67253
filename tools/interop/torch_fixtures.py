#!/usr/bin/env python3
"""Writes the PyTorch state_dict fixtures of tests/test_state_dict.cpp (tests/fixtures/interop/).

Run with Debian's python3-torch (not needed at test time):
  /usr/bin/python3 tools/interop/torch_fixtures.py [--reference ../shared/reference]

Files:
  tiny_spec.json            glia model spec of the tiny network below (glia's names = PyTorch's)
  tiny_f32.safetensors      its state_dict as written by PyTorch, float tensors in F32;
  tiny_f64 / tiny_f16 / tiny_bf16.safetensors   the same in F64, F16, BF16; every file has
                            bn.num_batches_tracked as an I64 scalar (3: three training batches)
  tiny_expected.safetensors "input" [2, 3, 6, 6]; for each dtype D: "D/<name>" every float tensor
                            as PyTorch converts it to float32, and "D/output" the eval-mode output
                            of the network holding those values, computed by PyTorch in float32
  refnet_names.json         torch_ref.py's Net(kind).state_dict(): [name, dtype, shape] for bn,
                            gn and ln, in state_dict order
"""
import argparse
import collections
import json
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_safetensors import save_file  # noqa: E402

DTYPES = {"f32": torch.float32, "f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16}


class Residual(nn.Module):
    """glia's Residual with an identity shortcut: y = x + body(x); its tensors are body.*."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def tiny_net():
    return nn.Sequential(collections.OrderedDict([
        ("conv", nn.Conv2d(3, 4, 3, padding=1)),
        ("bn", nn.BatchNorm2d(4)),
        ("relu", nn.ReLU()),
        ("res", Residual(nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.GroupNorm(2, 4)))),
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flat", nn.Flatten()),
        ("fc", nn.Linear(4, 3)),
    ]))


TINY_SPEC = {"input": [3, 6, 6], "layers": [
    {"type": "Conv2d", "name": "conv", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d", "name": "bn", "num_features": 4},
    {"type": "ReLU", "name": "relu"},
    {"type": "Residual", "name": "res", "body": [
        {"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1, "bias": False},
        {"type": "GroupNorm", "num_groups": 2, "num_channels": 4}]},
    {"type": "AdaptiveAvgPool2d", "name": "pool", "output_size": 1},
    {"type": "Flatten", "name": "flat"},
    {"type": "Linear", "name": "fc", "in_features": 4, "out_features": 3},
]}


def make_tiny(out):
    torch.manual_seed(7)
    net = tiny_net()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith(("bn.", "res.body.1.")):  # norm affines off 1 and 0
                p.add_(torch.randn_like(p) * 0.3)
    net.train()
    for _ in range(3):  # moves the running statistics; num_batches_tracked becomes 3
        net(torch.randn(5, 3, 6, 6) * 2 + 0.5)
    net.eval()
    state = net.state_dict()
    x = torch.randn(2, 3, 6, 6)
    expected = {"input": x}
    for tag, dtype in DTYPES.items():
        sd = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
        save_file(sd, os.path.join(out, f"tiny_{tag}.safetensors"))
        twin = tiny_net()
        twin.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()})
        twin.eval()
        for k, v in sd.items():
            if v.is_floating_point():
                expected[f"{tag}/{k}"] = v.float()
        with torch.no_grad():
            expected[f"{tag}/output"] = twin(x)
    save_file(expected, os.path.join(out, "tiny_expected.safetensors"))
    with open(os.path.join(out, "tiny_spec.json"), "w") as f:
        json.dump(TINY_SPEC, f, indent=1)
        f.write("\n")


def make_refnet_names(out, reference):
    sys.path.insert(0, reference)
    from torch_ref import Net  # the reference network's PyTorch twin
    names = {}
    for kind in ("bn", "gn", "ln"):
        sd = Net(kind).state_dict()
        names[kind] = [[k, str(v.dtype).replace("torch.", ""), list(v.shape)] for k, v in sd.items()]
    with open(os.path.join(out, "refnet_names.json"), "w") as f:
        json.dump(names, f, separators=(",", ":"))
        f.write("\n")


def main():
    repo = os.path.dirname(os.path.dirname(HERE))
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default=os.path.join(repo, "..", "shared", "reference"),
                    help="folder of torch_ref.py")
    ap.add_argument("--out", default=os.path.join(repo, "tests", "fixtures", "interop"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make_tiny(args.out)
    make_refnet_names(args.out, args.reference)
    for n in sorted(os.listdir(args.out)):
        print(f"{n}: {os.path.getsize(os.path.join(args.out, n))} bytes")


if __name__ == "__main__":
    main()
