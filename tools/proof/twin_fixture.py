#!/usr/bin/env python3
"""Writes the fixture of tests/test_spec_torch_twin.cpp (tests/fixtures/interop/twin_*) with
tools/interop/spec_to_torch.py: a spec using most layer types, its PyTorch twin's weights,
an input and the twin's eval-mode output.

  /usr/bin/python3 tools/proof/twin_fixture.py [--out tests/fixtures/interop]

Files:
  twin_spec.json            the spec (input [3, 8, 8], 5 outputs)
  twin_f32.safetensors      the twin's state_dict: PyTorch's init, every 1-d parameter and the
                            LayerNorm's moved by 0.3 N(0, 1), then 3 training-mode batches (so
                            the BatchNorm running statistics are not 0/1), written by
                            torch_safetensors.save_file: F32, num_batches_tracked I64 (3)
  twin_expected.safetensors "input" [2, 3, 8, 8] (N(0,1) offset by -1 and +1.5) and "output" [2, 5]:
                            the twin in eval mode
  twin_names.json           [name, dtype, shape] of every state_dict entry, in state_dict order
"""
import argparse
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "interop"))
from spec_to_torch import build_twin, state_dict_table  # noqa: E402
from torch_safetensors import save_file  # noqa: E402

SPEC = {"input": [3, 8, 8], "layers": [
    {"type": "Conv2d", "name": "stem", "in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d", "name": "bn", "num_features": 8, "activation": "ReLU"},
    {"type": "Residual", "name": "res", "body": [
        {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 2, "dilation": 2,
         "groups": 4, "bias": False},
        {"type": "GroupNorm", "num_groups": 2, "num_channels": 8, "activation": "ReLU"},
        {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 1}],
     "shortcut": {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 1, "bias": False}},
    {"type": "Residual", "body": {"type": "SiLU"}},
    {"type": "LeakyReLU", "negative_slope": 0.2},
    {"type": "Conv2d", "name": "dw", "in_channels": 8, "out_channels": 8, "kernel_size": 3, "stride": 2,
     "padding": 1, "groups": 8},
    {"type": "Hardswish"},
    {"type": "ConvTranspose2d", "name": "up", "in_channels": 8, "out_channels": 4, "kernel_size": 3, "stride": 2,
     "padding": 1, "output_padding": 1, "groups": 2},
    {"type": "Tanh"},
    {"type": "AvgPool2d", "kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
    {"type": "Upsample", "scale_factor": 2, "mode": "nearest"},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Sequential", "name": "block", "layers": [
        {"type": "Conv2d", "in_channels": 4, "out_channels": 6, "kernel_size": 1},
        {"type": "LayerNorm", "normalized_shape": [6, 4, 4]},
        {"type": "GELU", "approximate": "tanh"},
        {"type": "Sigmoid"}]},
    {"type": "AdaptiveAvgPool2d", "output_size": [2, 2]},
    {"type": "GlobalAvgPool2d"},
    {"type": "Identity"},
    {"type": "Flatten"},
    {"type": "Linear", "name": "fc1", "in_features": 6, "out_features": 16},
    {"type": "LayerNorm", "normalized_shape": 16},
    {"type": "BatchNorm1d", "name": "bn1d", "num_features": 16},
    {"type": "GELU"},
    {"type": "Dropout", "p": 0.3},
    {"type": "Linear", "name": "head", "in_features": 16, "out_features": 5}]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "interop"))
    args = ap.parse_args()
    torch.manual_seed(17)
    net = build_twin(SPEC)
    net.train()
    with torch.no_grad():
        for name, p in net.named_parameters():  # norm weights and biases away from 1 / 0
            if p.dim() == 1 or name.startswith("block.1"):
                p.add_(0.3 * torch.randn_like(p))
        for _ in range(3):  # running statistics away from 0 / 1
            net(torch.randn(4, 3, 8, 8) * 1.5 + 0.3)
    net.eval()
    x = torch.randn(2, 3, 8, 8) + torch.tensor([-1.0, 1.5]).view(2, 1, 1, 1)  # two distinct samples
    with torch.no_grad():
        y = net(x)
    with open(os.path.join(args.out, "twin_spec.json"), "w") as f:
        json.dump(SPEC, f, indent=1)
        f.write("\n")
    save_file(net.state_dict(), os.path.join(args.out, "twin_f32.safetensors"))
    save_file({"input": x, "output": y}, os.path.join(args.out, "twin_expected.safetensors"))
    with open(os.path.join(args.out, "twin_names.json"), "w") as f:
        json.dump(state_dict_table(net), f, indent=0)
        f.write("\n")
    print(net)
    print("output", y)


if __name__ == "__main__":
    main()
