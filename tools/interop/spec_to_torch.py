#!/usr/bin/env python3
"""The PyTorch twin of a glia JSON model spec (docs/model-spec.md, docs/interop.md "Any
spec-built model"): an nn.Module whose state_dict names, shapes and forward are glia's.

Run with Debian's python3-torch (/usr/bin/python3); PyTorch is never needed by glia itself.

  from spec_to_torch import build_twin, read_spec
  net = build_twin(read_spec("net.json"))        # nn.Sequential, PyTorch's default init
  net.load_state_dict(load_file("model.safetensors"))   # a glia model file, strict, no renaming

Command:
  spec_to_torch.py SPEC.json|MODEL.safetensors            print the twin and its state_dict names
  spec_to_torch.py SPEC.json --save-init OUT.safetensors --seed S   write its initial state_dict
  spec_to_torch.py SPEC.json --check MODEL.safetensors    load a glia model file (strict)

Rules (the same as model_spec.hpp's):
- the spec's `layers` and every `Sequential` are an nn.Sequential whose children are named by
  each layer's `name`, else by its position in its list;
- glia's `Residual` is `Residual` below: `body` (an nn.Sequential for a list, the layer itself
  for one layer) and, when the spec has one, `shortcut`; forward is body(x) + shortcut(x)
  (body(x) + x without a shortcut);
- glia's `"activation": "ReLU"` on BatchNorm2d / GroupNorm is a subclass of PyTorch's norm that
  applies relu after it, so it keeps the norm's tensor names and takes no position;
- glia's `GlobalAvgPool2d` is the mean over H and W, keepdim ([N, C, 1, 1]);
- every other type is PyTorch's class with the spec's arguments and PyTorch's defaults.
A key glia does not know, or a value glia refuses, raises ValueError naming the layer's path.
"""
import argparse
import collections
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_safetensors import load_file, read_metadata, save_file  # noqa: E402


class Residual(nn.Module):
    """glia's Residual: y = body(x) + shortcut(x), the shortcut the identity when absent."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        if shortcut is not None:
            self.shortcut = shortcut

    def forward(self, x):
        s = self.shortcut(x) if hasattr(self, "shortcut") else x
        return self.body(x) + s


class GlobalAvgPool2d(nn.Module):
    """glia's GlobalAvgPool2d: [N, C, H, W] -> [N, C, 1, 1]."""

    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True)


class BatchNorm2dReLU(nn.BatchNorm2d):
    """BatchNorm2d with glia's fused "activation": "ReLU" (same tensors as BatchNorm2d)."""

    def forward(self, x):
        return F.relu(super().forward(x))


class GroupNormReLU(nn.GroupNorm):
    """GroupNorm with glia's fused "activation": "ReLU" (same tensors as GroupNorm)."""

    def forward(self, x):
        return F.relu(super().forward(x))


# type -> (required keys, optional keys with PyTorch's defaults)
KEYS = {
    "Conv2d": (["in_channels", "out_channels", "kernel_size"],
               {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}),
    "ConvTranspose2d": (["in_channels", "out_channels", "kernel_size"],
                        {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1,
                         "padding_mode": "zeros"}),
    "Linear": (["in_features", "out_features"], {"bias": True}),
    "BatchNorm2d": (["num_features"], {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True,
                                       "activation": "none"}),
    "BatchNorm1d": (["num_features"], {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}),
    "GroupNorm": (["num_groups", "num_channels"], {"eps": 1e-5, "affine": True, "activation": "none"}),
    "LayerNorm": (["normalized_shape"], {"eps": 1e-5, "elementwise_affine": True}),
    "ReLU": ([], {"inplace": False}), "SiLU": ([], {"inplace": False}), "Hardswish": ([], {"inplace": False}),
    "LeakyReLU": ([], {"negative_slope": 0.01, "inplace": False}),
    "Sigmoid": ([], {}), "Tanh": ([], {}), "Identity": ([], {}), "GlobalAvgPool2d": ([], {}),
    "GELU": ([], {"approximate": "none"}),
    "Dropout": ([], {"p": 0.5, "inplace": False}),
    "MaxPool2d": (["kernel_size"], {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                                    "return_indices": False}),
    "AvgPool2d": (["kernel_size"], {"stride": None, "padding": 0, "count_include_pad": True, "ceil_mode": False,
                                    "divisor_override": None}),
    "AdaptiveAvgPool2d": (["output_size"], {}),
    "Flatten": ([], {"start_dim": 1, "end_dim": -1}),
    "Upsample": ([], {"scale_factor": 2, "mode": "nearest", "size": None}),
    "Sequential": (["layers"], {}),
    "Residual": (["body"], {"shortcut": None}),
}

# Keys glia accepts only at PyTorch's default value.
ONLY = {"padding_mode": "zeros", "affine": True, "track_running_stats": True, "ceil_mode": False,
        "return_indices": False, "divisor_override": None, "start_dim": 1, "end_dim": -1, "size": None}


def _args(layer, where):
    if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
        raise ValueError(f"model spec: {where}: a layer must be an object with a 'type', got {layer!r}")
    t = layer["type"]
    if t not in KEYS:
        raise ValueError(f"model spec: {where} ({t}): unknown type '{t}'")
    required, optional = KEYS[t]
    for k in layer:
        if k not in ("type", "name") and k not in required and k not in optional:
            raise ValueError(f"model spec: {where} ({t}): key '{k}' is not an argument of {t}")
    a = dict(optional)
    for k in required:
        if k not in layer:
            raise ValueError(f"model spec: {where} ({t}): key '{k}' is missing")
    a.update({k: v for k, v in layer.items() if k not in ("type", "name")})
    for k, v in ONLY.items():
        if k in a and a[k] != v:
            raise ValueError(f"model spec: {where} ({t}): key '{k}' is {a[k]!r}: glia implements only {v!r}")
    if t == "MaxPool2d" and (a["padding"] != 0 or a["dilation"] != 1):
        raise ValueError(f"model spec: {where} (MaxPool2d): glia implements only padding 0 and dilation 1")
    if t == "Upsample" and (a["scale_factor"] != 2 or a["mode"] != "nearest"):
        raise ValueError(f"model spec: {where} (Upsample): glia implements only scale_factor 2, mode nearest")
    if a.get("activation", "none") not in ("none", "ReLU"):
        raise ValueError(f"model spec: {where} ({t}): key 'activation' must be \"none\" or \"ReLU\"")
    for k in ONLY:
        a.pop(k, None)
    return t, a


def _conv(t, a):
    if t == "Conv2d":
        return nn.Conv2d(a["in_channels"], a["out_channels"], a["kernel_size"], stride=a["stride"],
                         padding=a["padding"], dilation=a["dilation"], groups=a["groups"], bias=a["bias"])
    return nn.ConvTranspose2d(a["in_channels"], a["out_channels"], a["kernel_size"], stride=a["stride"],
                              padding=a["padding"], output_padding=a["output_padding"], groups=a["groups"],
                              bias=a["bias"], dilation=a["dilation"])


def _norm(t, a):
    relu = a.get("activation") == "ReLU"
    if t == "BatchNorm2d":
        return (BatchNorm2dReLU if relu else nn.BatchNorm2d)(a["num_features"], eps=a["eps"], momentum=a["momentum"])
    if t == "BatchNorm1d":
        return nn.BatchNorm1d(a["num_features"], eps=a["eps"], momentum=a["momentum"])
    if t == "GroupNorm":
        return (GroupNormReLU if relu else nn.GroupNorm)(a["num_groups"], a["num_channels"], eps=a["eps"])
    shape = a["normalized_shape"]
    shape = list(shape) if isinstance(shape, (list, tuple)) else [shape]
    return nn.LayerNorm(shape, eps=a["eps"], elementwise_affine=a["elementwise_affine"])


SIMPLE = {
    "ReLU": lambda a: nn.ReLU(), "SiLU": lambda a: nn.SiLU(), "Hardswish": lambda a: nn.Hardswish(),
    "LeakyReLU": lambda a: nn.LeakyReLU(a["negative_slope"]), "Sigmoid": lambda a: nn.Sigmoid(),
    "Tanh": lambda a: nn.Tanh(), "Identity": lambda a: nn.Identity(), "GELU": lambda a: nn.GELU(approximate=a["approximate"]),
    "Dropout": lambda a: nn.Dropout(a["p"]), "GlobalAvgPool2d": lambda a: GlobalAvgPool2d(),
    "MaxPool2d": lambda a: nn.MaxPool2d(a["kernel_size"], stride=a["stride"]),
    "AvgPool2d": lambda a: nn.AvgPool2d(a["kernel_size"], stride=a["stride"], padding=a["padding"],
                                        count_include_pad=a["count_include_pad"]),
    "AdaptiveAvgPool2d": lambda a: nn.AdaptiveAvgPool2d(tuple(a["output_size"]) if isinstance(a["output_size"], list)
                                                        else a["output_size"]),
    "Flatten": lambda a: nn.Flatten(), "Upsample": lambda a: nn.Upsample(scale_factor=2, mode="nearest"),
}


def build_layer(layer, where="layers[0]"):
    """One spec layer (a dict) as a torch module; `where` is its path for messages."""
    t, a = _args(layer, where)
    if t in ("Conv2d", "ConvTranspose2d"):
        return _conv(t, a)
    if t == "Linear":
        return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"])
    if t in ("BatchNorm2d", "BatchNorm1d", "GroupNorm", "LayerNorm"):
        return _norm(t, a)
    if t == "Sequential":
        return build_layers(a["layers"], where + ".layers")
    if t == "Residual":
        def branch(j, w):
            return build_layer(j, w) if isinstance(j, dict) else build_layers(j, w)
        shortcut = a["shortcut"]
        return Residual(branch(a["body"], where + ".body"),
                        None if shortcut is None else branch(shortcut, where + ".shortcut"))
    return SIMPLE[t](a)


def build_layers(layers, where="layers"):
    """A list of spec layers as an nn.Sequential named as glia names them."""
    if not isinstance(layers, list):
        raise ValueError(f"model spec: {where} must be a list of layers")
    children = collections.OrderedDict()
    for i, layer in enumerate(layers):
        at = f"{where}[{i}]"
        name = layer.get("name", str(i)) if isinstance(layer, dict) else str(i)
        if name in children:
            raise ValueError(f"model spec: {at}: name '{name}' is used twice in {where}")
        children[name] = build_layer(layer, at)
    return nn.Sequential(children)


def build_twin(spec):
    """The twin of a spec (a dict with "input" and "layers")."""
    if not isinstance(spec, dict) or "layers" not in spec or "input" not in spec:
        raise ValueError("model spec: expected an object with 'input' and 'layers'")
    return build_layers(spec["layers"])


def read_spec(path):
    """A spec from a JSON file, or from a glia model file's metadata (key "spec")."""
    if path.endswith(".safetensors"):
        meta = read_metadata(path)
        if "spec" not in meta:
            raise ValueError(f"{path}: no 'spec' in the metadata: not a glia model file")
        return json.loads(meta["spec"])
    with open(path) as f:
        return json.load(f)


def state_dict_table(net):
    """[name, dtype, shape] of every state_dict entry, in state_dict order."""
    dt = {torch.float32: "F32", torch.int64: "I64"}
    return [[k, dt.get(v.dtype, str(v.dtype)), list(v.shape)] for k, v in net.state_dict().items()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec", help="a glia model spec (.json) or a glia model file (.safetensors)")
    ap.add_argument("--save-init", metavar="OUT", help="write the twin's initial state_dict (safetensors)")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed before the twin is built")
    ap.add_argument("--check", metavar="MODEL", help="load this glia model file / state_dict into the twin (strict)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    spec = read_spec(args.spec)
    net = build_twin(spec)
    print(net)
    for name, dtype, shape in state_dict_table(net):
        print(f"  {name:40s} {dtype} {shape}")
    x = torch.zeros([1] + list(spec["input"]))
    print("output shape", list(net.eval()(x).shape))
    if args.save_init:
        save_file(net.state_dict(), args.save_init)
        print("wrote", args.save_init)
    if args.check:
        net.load_state_dict(load_file(args.check), strict=True)
        print("loaded", args.check, "by name: every tensor matched")


if __name__ == "__main__":
    main()
