#!/usr/bin/python3
"""Writes glia's PyTorch golden fixtures into tests/fixtures/.

Run with Debian's interpreter, which has torch 1.13 and numpy (not a pyenv python3):

    /usr/bin/python3 tools/golden/make_golden.py            # writes tests/fixtures/*.glfix
    /usr/bin/python3 tools/golden/make_golden.py --full-net-grads   # see "Size budget" below

Every value is computed by PyTorch in float64 from inputs and parameters that are exactly
representable in float32, and stored rounded to float32: glia recomputes in float32 and the
tests (tests/test_golden.cpp) compare within 1e-4 relative. The file format and the contents of
each file are documented in tests/fixtures/README.md; the reader is tests/support/fixture.hpp.

Layer fixtures hold, for L = sum(y * r) with a stored random r, the inputs, the parameters,
the output y and the gradients dL/dx and dL/dparam. The reference-network fixtures hold one
training step (forward, NLL loss on log_softmax, backward) of the CIFAR-10 network of
/work/shared/reference/torch_ref.py (class Net), with parameters stored under glia's names.

Size budget: the fixtures must stay under ~490 KB together. Three full networks of 48,178
parameters with their gradients would take 1.16 MB in float32, so
  - the network parameters are not stored as numbers but as "generated" records (a seed, an
    offset and a power-of-two scale; the reader expands them with a splitmix64 stream, exactly,
    see README.md);
  - the input batch and targets are stored once (refnet_data.glfix) and shared by bn, gn, ln;
  - every gradient of the bn network is stored in full; for gn and ln every gradient is stored
    in full except the four 32->32 3x3 conv weights (9,216 values each), of which the first
    PARTIAL_ROWS output channels are stored ("grad_rows/NAME") with the L2 norm of the whole
    gradient ("grad_norm/NAME"). --full-net-grads stores those in full too (+276 KB); the
    test handles both.
"""
import argparse
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures")
DEFAULT_REFERENCE = os.path.normpath(os.path.join(REPO, "..", "shared", "reference"))

MAGIC = b"GLIAFIX1"
DTYPE_F32, DTYPE_F64, DTYPE_GENERATED = 1, 2, 3
MAX_RANK = 4  # glia::Tensor's limit
PARTIAL_ROWS = 2  # output channels stored of a partially stored network gradient
PARTIAL_MIN_NUMEL = 9216  # gn/ln gradients with at least this many values are stored partially


# --- The file format --------------------------------------------------------------------------

class Fixture:
    """A list of named tensors written in the GLIAFIX1 format (tests/fixtures/README.md)."""

    def __init__(self):
        self.records = []
        self.names = set()

    def _check(self, name, shape):
        if name in self.names:
            raise ValueError(f"duplicate tensor name {name!r}")
        if len(shape) > MAX_RANK:
            raise ValueError(f"{name}: rank {len(shape)} > {MAX_RANK}")
        self.names.add(name)

    def add(self, name, value, dtype=DTYPE_F32):
        """Stores a tensor (torch tensor, numpy array or Python number) as float32 or float64."""
        if isinstance(value, torch.Tensor):
            value = value.detach().to(torch.float64).cpu().numpy()
        a = np.asarray(value, dtype=np.float64)
        self._check(name, a.shape)
        np_dtype = "<f4" if dtype == DTYPE_F32 else "<f8"
        self.records.append((name, dtype, tuple(a.shape), np.ascontiguousarray(a, dtype=np_dtype).tobytes()))

    def add_generated(self, name, shape, seed, offset, scale):
        """Stores a tensor as its generator: value_i = float32(offset + scale * u_i)."""
        self._check(name, shape)
        self.records.append((name, DTYPE_GENERATED, tuple(shape), struct.pack("<Qdd", seed, offset, scale)))

    def write(self, path):
        out = bytearray(MAGIC)
        out += struct.pack("<I", len(self.records))
        for name, dtype, shape, payload in self.records:
            nb = name.encode("utf-8")
            out += struct.pack("<I", len(nb)) + nb
            out += struct.pack("<II", dtype, len(shape))
            out += struct.pack(f"<{len(shape)}q", *shape)
            out += payload
        with open(path, "wb") as f:
            f.write(out)
        return len(out)


# --- The generator of "generated" records ----------------------------------------------------

def splitmix64(seed, n):
    """The first n outputs of splitmix64 seeded with seed (uint64 numpy array)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def generated_values(shape, seed, offset, scale):
    """float32 values of a generated record: float32(offset + scale * u), u in (-1, 1) with 24
    significant bits, so offset + scale * u is exact in float64 when scale is a power of two."""
    n = int(np.prod(shape, dtype=np.int64))
    k = (splitmix64(seed, n) >> np.uint64(40)).astype(np.float64)  # 24-bit integers
    u = (2.0 * k + 1.0 - 2.0 ** 24) / 2.0 ** 24
    return (offset + scale * u).astype(np.float32).reshape(shape)


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def pow2_at_most(x):
    return 2.0 ** math.floor(math.log2(x))


# --- Helpers ----------------------------------------------------------------------------------

def f32(t):
    """t rounded to float32 and held in float64 (an exact float32 value computed on in double)."""
    return t.to(torch.float32).to(torch.float64)


def randn(gen, *shape, scale=1.0):
    return f32(torch.randn(*shape, generator=gen, dtype=torch.float64) * scale)


def leaf(t):
    return t.clone().requires_grad_(True)


def grad_of(t):
    return t.grad if t.grad is not None else torch.zeros_like(t)


# --- Layer fixtures ---------------------------------------------------------------------------

def conv_fixture(gen, n, cin, cout, h, w, k, stride, pad, bias):
    fx = Fixture()
    x = leaf(randn(gen, n, cin, h, w))
    bound = 1.0 / math.sqrt(cin * k * k)
    wt = leaf(f32((torch.rand(cout, cin, k, k, generator=gen, dtype=torch.float64) * 2 - 1) * bound))
    b = leaf(randn(gen, cout, scale=0.5)) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=pad)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    fx.add("config", [cin, cout, k, stride, pad, 1 if bias else 0], dtype=DTYPE_F64)
    fx.add("x", x)
    fx.add("weight", wt)
    if bias:
        fx.add("bias", b)
    fx.add("r", r)
    fx.add("y", y)
    fx.add("dx", grad_of(x))
    fx.add("dweight", grad_of(wt))
    if bias:
        fx.add("dbias", grad_of(b))
    return fx


def maxpool_fixture(gen, n, c, h, w, k, stride):
    fx = Fixture()
    x = leaf(randn(gen, n, c, h, w))
    y = F.max_pool2d(x, k, stride)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    fx.add("config", [k, stride], dtype=DTYPE_F64)
    fx.add("x", x)
    fx.add("r", r)
    fx.add("y", y)
    fx.add("dx", grad_of(x))
    return fx


def simple_fixture(gen, shape, fn, config=None, scale=1.0):
    """Fixture of a parameterless layer y = fn(x), x drawn with standard deviation scale."""
    fx = Fixture()
    x = leaf(randn(gen, *shape, scale=scale))
    y = fn(x)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    if config is not None:
        fx.add("config", config, dtype=DTYPE_F64)
    fx.add("x", x)
    fx.add("r", r)
    fx.add("y", y)
    fx.add("dx", grad_of(x))
    return fx


def affine_params(gen, c):
    return leaf(f32(1 + 0.3 * torch.randn(c, generator=gen, dtype=torch.float64))), leaf(randn(gen, c, scale=0.3))


def batchnorm_fixture(gen, n, c, *spatial, momentum=0.1, eps=1e-5):
    """F.batch_norm on x [n, c, *spatial]: [n, c, h, w] for BatchNorm2d, [n, c] or [n, c, l] for 1d."""
    fx = Fixture()
    ones = (1,) * len(spatial)
    x = f32(randn(gen, n, c, *spatial, scale=2.0) + randn(gen, 1, c, *ones))  # per-channel offsets
    gamma, beta = affine_params(gen, c)
    rm0 = randn(gen, c, scale=0.5)
    rv0 = f32(0.5 + torch.rand(c, generator=gen, dtype=torch.float64))
    fx.add("config", [c, momentum, eps], dtype=DTYPE_F64)
    fx.add("x", x)
    fx.add("weight", gamma)
    fx.add("bias", beta)
    fx.add("running_mean_before", rm0)
    fx.add("running_var_before", rv0)
    # Train mode: batch statistics, one update of the running statistics.
    rm, rv = rm0.clone(), rv0.clone()
    xt = leaf(x)
    y = F.batch_norm(xt, rm, rv, gamma, beta, training=True, momentum=momentum, eps=eps)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    fx.add("r", r)
    fx.add("y", y)
    fx.add("dx", grad_of(xt))
    fx.add("dweight", grad_of(gamma))
    fx.add("dbias", grad_of(beta))
    fx.add("running_mean_after", rm)
    fx.add("running_var_after", rv)
    # Eval mode with the updated running statistics (rounded to float32, as glia holds them).
    rm32, rv32 = f32(rm), f32(rv)
    xe = leaf(x)
    ge, be = leaf(gamma.detach()), leaf(beta.detach())
    ye = F.batch_norm(xe, rm32, rv32, ge, be, training=False, eps=eps)
    re = randn(gen, *ye.shape)
    (ye * re).sum().backward()
    fx.add("eval_r", re)
    fx.add("eval_y", ye)
    fx.add("eval_dx", grad_of(xe))
    fx.add("eval_dweight", grad_of(ge))
    fx.add("eval_dbias", grad_of(be))
    return fx


def affine_norm_outputs(fx, x, gamma, beta, r, y):
    """Adds a norm layer's input, affine parameters, r, output and gradients to fx."""
    fx.add("x", x)
    fx.add("weight", gamma)
    fx.add("bias", beta)
    fx.add("r", r)
    fx.add("y", y)
    fx.add("dx", grad_of(x))
    fx.add("dweight", grad_of(gamma))
    fx.add("dbias", grad_of(beta))
    return fx


def groupnorm_fixture(gen, n, c, h, w, groups, eps=1e-5):
    fx = Fixture()
    x = leaf(f32(randn(gen, n, c, h, w, scale=1.5) + randn(gen, n, c, 1, 1)))
    gamma, beta = affine_params(gen, c)
    y = F.group_norm(x, groups, gamma, beta, eps=eps)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    fx.add("config", [groups, c, eps], dtype=DTYPE_F64)
    return affine_norm_outputs(fx, x, gamma, beta, r, y)


def layer_norm_fixture(gen, shape, normalized_shape, eps=1e-5):
    """PyTorch's LayerNorm over the trailing normalized_shape, element-wise affine."""
    fx = Fixture()
    x = leaf(f32(randn(gen, *shape, scale=1.5) + 0.5))
    gamma = leaf(f32(1.0 + 0.25 * torch.randn(*normalized_shape, generator=gen, dtype=torch.float64)))
    beta = leaf(f32(0.25 * torch.randn(*normalized_shape, generator=gen, dtype=torch.float64)))
    y = F.layer_norm(x, normalized_shape, gamma, beta, eps=eps)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    fx.add("config", list(normalized_shape) + [eps], dtype=DTYPE_F64)
    return affine_norm_outputs(fx, x, gamma, beta, r, y)


def linear_fixture(gen, n, fin, fout):
    fx = Fixture()
    x = leaf(randn(gen, n, fin))
    wt = leaf(randn(gen, fout, fin, scale=1.0 / math.sqrt(fin)))
    b = leaf(randn(gen, fout, scale=0.5))
    y = F.linear(x, wt, b)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    fx.add("config", [fin, fout], dtype=DTYPE_F64)
    for name, v in (("x", x), ("weight", wt), ("bias", b), ("r", r), ("y", y)):
        fx.add(name, v)
    fx.add("dx", grad_of(x))
    fx.add("dweight", grad_of(wt))
    fx.add("dbias", grad_of(b))
    return fx


def targets_for(gen, n, c):
    return torch.randint(0, c, (n,), generator=gen)


def logsoftmax_nll_fixture(gen, n, c):
    fx = Fixture()
    logits = randn(gen, n, c, scale=2.0)
    t = targets_for(gen, n, c)
    fx.add("x", logits)
    fx.add("targets", t)
    # NLLLoss(LogSoftmax(x)): loss, dL/dlogp and dL/dx.
    x = leaf(logits)
    logp = F.log_softmax(x, dim=1)
    logp.retain_grad()
    loss = F.nll_loss(logp, t)
    loss.backward()
    fx.add("logp", logp)
    fx.add("loss", loss)
    fx.add("dlogp", grad_of(logp))
    fx.add("dx", grad_of(x))
    # LogSoftmax alone, L = sum(logp * r).
    x2 = leaf(logits)
    logp2 = F.log_softmax(x2, dim=1)
    r = randn(gen, n, c)
    (logp2 * r).sum().backward()
    fx.add("r", r)
    fx.add("r_dx", grad_of(x2))
    return fx


def cross_entropy_fixture(gen, n, c, smoothings=(0.0, 0.1)):
    fx = Fixture()
    logits = randn(gen, n, c, scale=2.0)
    t = targets_for(gen, n, c)
    fx.add("x", logits)
    fx.add("targets", t)
    for i, s in enumerate(smoothings):
        x = leaf(logits)
        loss = F.cross_entropy(x, t, label_smoothing=s)
        loss.backward()
        fx.add(f"case{i}.label_smoothing", s, dtype=DTYPE_F64)
        fx.add(f"case{i}.loss", loss)
        fx.add(f"case{i}.dx", grad_of(x))
    fx.add("logp", F.log_softmax(logits, dim=1))
    return fx


def weighted_cross_entropy_fixture(gen, n, c, smoothings=(0.0, 0.1)):
    """CrossEntropyLoss with class weights (one of them 0), with and without label smoothing."""
    fx = Fixture()
    logits = randn(gen, n, c, scale=2.0)
    t = targets_for(gen, n, c)
    w = f32(torch.rand(c, generator=gen, dtype=torch.float64) * 2.0)
    w[c - 1] = 0.0
    fx.add("x", logits)
    fx.add("targets", t)
    fx.add("weight", w, dtype=DTYPE_F64)
    for i, s in enumerate(smoothings):
        x = leaf(logits)
        loss = F.cross_entropy(x, t, weight=w, label_smoothing=s)
        loss.backward()
        fx.add(f"case{i}.label_smoothing", s, dtype=DTYPE_F64)
        fx.add(f"case{i}.loss", loss)
        fx.add(f"case{i}.dx", grad_of(x))
    return fx


def regression_loss_fixture(gen, shape, fn, probabilities=False):
    """A loss between a prediction x and a target of the same shape (mean reduction)."""
    fx = Fixture()
    x = leaf(randn(gen, *shape, scale=2.0))
    if probabilities:
        target = f32(torch.rand(*shape, generator=gen, dtype=torch.float64))
    else:
        target = randn(gen, *shape)
    loss = fn(x, target)
    loss.backward()
    fx.add("x", x)
    fx.add("target", target)
    fx.add("loss", loss)
    fx.add("dx", grad_of(x))
    return fx


def distillation_fixture(gen, n, c, cases=((0.9, 4.0, 0.1), (0.5, 1.0, 0.0), (1.0, 2.5, 0.0))):
    """Hinton's distillation loss as glia's DistillationLoss defines it (weight a, temperature
    tau, label smoothing s): (1 - a) CE_s(x) + a tau^2 KL(softmax(z/tau) || softmax(x/tau))."""
    fx = Fixture()
    logits = randn(gen, n, c, scale=2.0)
    teacher = randn(gen, n, c, scale=3.0)
    t = targets_for(gen, n, c)
    fx.add("x", logits)
    fx.add("teacher", teacher)
    fx.add("targets", t)
    for i, (a, tau, s) in enumerate(cases):
        x = leaf(logits)
        hard = F.cross_entropy(x, t, label_smoothing=s)
        soft = F.kl_div(F.log_softmax(x / tau, dim=1), F.softmax(teacher / tau, dim=1), reduction="batchmean")
        loss = (1 - a) * hard + a * tau * tau * soft
        loss.backward()
        fx.add(f"case{i}.weight", a, dtype=DTYPE_F64)
        fx.add(f"case{i}.temperature", tau, dtype=DTYPE_F64)
        fx.add(f"case{i}.label_smoothing", s, dtype=DTYPE_F64)
        fx.add(f"case{i}.loss", loss)
        fx.add(f"case{i}.dx", grad_of(x))
    return fx


def layer_fixtures(seed):
    gen = torch.Generator().manual_seed(seed)
    out = {}
    out["conv2d_3x3_p1"] = conv_fixture(gen, 2, 3, 4, 7, 5, 3, 1, 1, True)
    out["conv2d_3x3_s2_p0"] = conv_fixture(gen, 2, 3, 4, 9, 7, 3, 2, 0, True)
    out["conv2d_1x1"] = conv_fixture(gen, 3, 5, 3, 5, 3, 1, 1, 0, True)
    out["conv2d_nobias"] = conv_fixture(gen, 2, 4, 3, 7, 5, 3, 2, 1, False)
    out["maxpool_2x2_s2"] = maxpool_fixture(gen, 2, 3, 7, 5, 2, 2)
    out["maxpool_3x3_s2"] = maxpool_fixture(gen, 2, 3, 9, 7, 3, 2)
    out["global_avgpool"] = simple_fixture(gen, (2, 3, 5, 7), lambda x: F.adaptive_avg_pool2d(x, 1))
    out["relu"] = simple_fixture(gen, (2, 3, 5, 7), F.relu)
    out["batchnorm2d"] = batchnorm_fixture(gen, 3, 4, 5, 3)
    out["groupnorm_g2"] = groupnorm_fixture(gen, 2, 6, 5, 3, 2)
    out["layernorm"] = groupnorm_fixture(gen, 3, 4, 3, 5, 1)
    out["linear"] = linear_fixture(gen, 3, 7, 5)
    out["logsoftmax_nll"] = logsoftmax_nll_fixture(gen, 3, 7)
    out["cross_entropy"] = cross_entropy_fixture(gen, 4, 7)
    out["distillation"] = distillation_fixture(gen, 5, 7)
    # The element-wise activations of nn/pointwise.hpp, inputs spread (sd 2.5) over every branch.
    pointwise = {
        "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": F.silu,
        "hardswish": F.hardswish,
    }
    for name, fn in pointwise.items():
        out[name] = simple_fixture(gen, (2, 3, 5, 7), fn, scale=2.5)
    out["weighted_cross_entropy"] = weighted_cross_entropy_fixture(gen, 6, 5)
    # Pooling and upsampling (nn/pooling.hpp).
    out["avgpool_3x3_s2_p1"] = simple_fixture(gen, (2, 3, 7, 6), lambda x: F.avg_pool2d(x, 3, 2, 1), [3, 2, 1, 1])
    out["avgpool_3x3_s2_p1_exclude"] = simple_fixture(
        gen, (2, 3, 7, 6), lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [3, 2, 1, 0])
    out["adaptive_avgpool_3x2"] = simple_fixture(gen, (2, 3, 7, 5), lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [3, 2])
    out["batchnorm1d"] = batchnorm_fixture(gen, 6, 4)
    out["batchnorm1d_l5"] = batchnorm_fixture(gen, 3, 4, 5)
    out["layer_norm_last1"] = layer_norm_fixture(gen, (4, 6), (6,))
    out["layer_norm_last2"] = layer_norm_fixture(gen, (2, 3, 4, 5), (4, 5))
    out["upsample_nearest2"] = simple_fixture(gen, (2, 3, 3, 4), lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
    out["mse_loss"] = regression_loss_fixture(gen, (3, 4, 2), F.mse_loss)
    out["l1_loss"] = regression_loss_fixture(gen, (3, 4, 2), F.l1_loss)
    out["bce_with_logits"] = regression_loss_fixture(gen, (3, 4, 2), F.binary_cross_entropy_with_logits, True)
    return out


# --- Grouped, dilated and transposed convolutions (issue 17) -----------------------------------
# Their own generator (seed + 17), so that adding them leaves every earlier fixture unchanged.

def conv_params(gen, wshape, fan_in, cout, bias):
    bound = 1.0 / math.sqrt(fan_in)
    wt = leaf(f32((torch.rand(*wshape, generator=gen, dtype=torch.float64) * 2 - 1) * bound))
    b = leaf(randn(gen, cout, scale=0.5)) if bias else None
    return wt, b


def conv_outputs(fx, gen, config, x, wt, b, fn):
    """Runs y = fn(x, wt, b), L = sum(y * r), and stores config, inputs, outputs and gradients."""
    y = fn(x, wt, b)
    r = randn(gen, *y.shape)
    (y * r).sum().backward()
    fx.add("config", config, dtype=DTYPE_F64)
    fx.add("x", x)
    fx.add("weight", wt)
    if b is not None:
        fx.add("bias", b)
    fx.add("r", r)
    fx.add("y", y)
    fx.add("dx", grad_of(x))
    fx.add("dweight", grad_of(wt))
    if b is not None:
        fx.add("dbias", grad_of(b))
    return fx


def conv_groups_fixture(gen, n, cin, cout, h, w, k, stride, pad, dilation, groups, bias):
    """F.conv2d with groups and dilation; config: cin, cout, k, stride, pad, dilation, groups, bias."""
    x = leaf(randn(gen, n, cin, h, w))
    wt, b = conv_params(gen, (cout, cin // groups, k, k), cin // groups * k * k, cout, bias)
    fn = lambda x, wt, b: F.conv2d(x, wt, b, stride=stride, padding=pad, dilation=dilation, groups=groups)
    return conv_outputs(Fixture(), gen, [cin, cout, k, stride, pad, dilation, groups, 1 if bias else 0], x, wt, b, fn)


def conv_transpose_fixture(gen, n, cin, cout, h, w, k, stride, pad, out_pad, groups, dilation, bias):
    """F.conv_transpose2d, weight [cin, cout/groups, k, k]; config: cin, cout, k, stride, pad,
    output_padding, groups, bias, dilation (ConvTranspose2d's argument order)."""
    x = leaf(randn(gen, n, cin, h, w))
    wt, b = conv_params(gen, (cin, cout // groups, k, k), cout // groups * k * k, cout, bias)
    fn = lambda x, wt, b: F.conv_transpose2d(x, wt, b, stride=stride, padding=pad, output_padding=out_pad,
                                             groups=groups, dilation=dilation)
    config = [cin, cout, k, stride, pad, out_pad, groups, 1 if bias else 0, dilation]
    return conv_outputs(Fixture(), gen, config, x, wt, b, fn)


def conv_extra_fixtures(seed):
    gen = torch.Generator().manual_seed(seed)
    out = {}
    # Small shapes (the size budget above): n, cin, cout, h, w, k, stride, pad, dilation, groups, bias
    out["conv2d_groups2"] = conv_groups_fixture(gen, 2, 4, 6, 5, 4, 3, 1, 1, 1, 2, True)
    out["conv2d_depthwise_s2"] = conv_groups_fixture(gen, 1, 3, 6, 6, 5, 3, 2, 1, 1, 3, True)
    out["conv2d_dilation2"] = conv_groups_fixture(gen, 1, 3, 2, 7, 6, 3, 1, 2, 2, 1, True)
    out["conv2d_groups2_dilation2_s2"] = conv_groups_fixture(gen, 1, 4, 4, 7, 6, 3, 2, 1, 2, 2, False)
    # n, cin, cout, h, w, k, stride, pad, output_padding, groups, dilation, bias
    out["conv_transpose2d_s2_op1"] = conv_transpose_fixture(gen, 2, 3, 2, 3, 4, 3, 2, 1, 1, 1, 1, True)
    out["conv_transpose2d_k4s2p1"] = conv_transpose_fixture(gen, 1, 4, 3, 3, 4, 4, 2, 1, 0, 1, 1, True)
    out["conv_transpose2d_g2_d2"] = conv_transpose_fixture(gen, 1, 4, 6, 3, 3, 3, 1, 1, 0, 2, 2, True)
    out["conv_transpose2d_depthwise"] = conv_transpose_fixture(gen, 1, 3, 3, 4, 4, 3, 1, 1, 0, 3, 1, False)
    return out


# --- The reference network --------------------------------------------------------------------

# torch module prefix -> glia module path (make_reference_net's names).
TORCH_TO_GLIA = {
    "c1.0": "C1.conv", "c1.1": "C1.norm",
    "c2.0": "C2.conv", "c2.1": "C2.norm",
    "t1": "c3",
    "c3.0": "C3.conv", "c3.1": "C3.norm",
    "c4.0": "R1.body.C4.conv", "c4.1": "R1.body.C4.norm",
    "c5.0": "R1.body.C5.conv", "c5.1": "R1.body.C5.norm",
    "t2": "c6",
    "c6.0": "C7.conv", "c6.1": "C7.norm",
    "c7.0": "R2.body.C8.conv", "c7.1": "R2.body.C8.norm",
    "c8.0": "R2.body.C9.conv", "c8.1": "R2.body.C9.norm",
    "head": "c10",
}

# Expected shapes of glia's parameters (checked against the torch model: a wrong mapping fails).
def glia_param_shapes():
    s = {}

    def conv(p, cin, cout, k):
        s[p + ".weight"] = (cout, cin, k, k)
        s[p + ".bias"] = (cout,)

    def cnr(p, cin, cout):
        conv(p + ".conv", cin, cout, 3)
        s[p + ".norm.weight"] = (cout,)
        s[p + ".norm.bias"] = (cout,)

    cnr("C1", 3, 16)
    cnr("C2", 16, 16)
    conv("c3", 16, 8, 1)
    cnr("C3", 8, 32)
    cnr("R1.body.C4", 32, 32)
    cnr("R1.body.C5", 32, 32)
    conv("c6", 32, 16, 1)
    cnr("C7", 16, 32)
    cnr("R2.body.C8", 32, 32)
    cnr("R2.body.C9", 32, 32)
    conv("c10", 32, 10, 1)
    return s


def glia_name(torch_name):
    prefix, leafname = torch_name.rsplit(".", 1)
    if prefix not in TORCH_TO_GLIA:
        raise KeyError(f"no glia name for torch parameter {torch_name}")
    return TORCH_TO_GLIA[prefix] + "." + leafname


def param_generator(glia_param, shape, base_seed):
    """(seed, offset, scale) of a network parameter: conv weights and biases uniform in
    +-2^floor(log2(1/sqrt(fan_in))) (about PyTorch's default bound), norm weights 1 +- 0.25,
    norm biases +-0.25."""
    seed = fnv1a64(glia_param) ^ base_seed
    if ".norm." in glia_param:
        return seed, (1.0 if glia_param.endswith(".weight") else 0.0), 0.25
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else None
    if fan_in is None:  # a conv bias: fan_in of its weight
        fan_in = int(np.prod(glia_param_shapes()[glia_param[:-len("bias")] + "weight"][1:]))
    return seed, 0.0, pow2_at_most(1.0 / math.sqrt(fan_in))


def load_net_class(reference_dir):
    sys.path.insert(0, reference_dir)
    try:
        from torch_ref import Net  # noqa: E402
    finally:
        sys.path.pop(0)
    return Net


def rel_errors(a, b, floor):
    """Errors of a against b as tests/test_golden.cpp measures them, as fractions of the 1e-4
    tolerance's scale: (||a-b|| / max(||b||, floor), max_i |a_i-b_i| / max(|b_i|, s, floor))
    with s = min(1, max|b|). floor is 1e-2 times the norm of the whole network gradient."""
    a, b = a.double().flatten(), b.double().flatten()
    rel = (a - b).norm().item() / max(b.norm().item(), floor, 1e-30)
    s = min(1.0, b.abs().max().item())
    elem = ((a - b).abs() / torch.clamp(b.abs(), min=max(s, floor, 1e-30))).max().item()
    return rel, elem


def global_norm(tensors):
    return math.sqrt(sum(float(t.double().norm()) ** 2 for t in tensors))


def run_net(Net, kind, params, x, t, dtype):
    """One training step of the torch network with the given glia-named float32 params."""
    model = Net(kind, dropout=0.0).to(dtype)
    model.train()
    expected = glia_param_shapes()
    seen = set()
    with torch.no_grad():
        for tn, p in model.named_parameters():
            gn = glia_name(tn)
            if tuple(p.shape) != expected[gn]:
                raise ValueError(f"{tn} -> {gn}: torch shape {tuple(p.shape)} != glia shape {expected[gn]}")
            p.copy_(torch.from_numpy(params[gn]).to(dtype))
            seen.add(gn)
    if seen != set(expected):
        raise ValueError(f"glia parameters not in the torch model: {sorted(set(expected) - seen)}")
    logp = model(x.to(dtype))
    loss = F.nll_loss(logp, t)
    loss.backward()
    grads = {glia_name(tn): p.grad.detach().clone() for tn, p in model.named_parameters()}
    bufs = {}
    for tn, b in model.named_buffers():
        if tn.endswith("num_batches_tracked"):
            continue
        prefix, leafname = tn.rsplit(".", 1)
        bufs[TORCH_TO_GLIA[prefix] + "." + leafname] = b.detach().clone()
    return logp.detach(), loss.detach(), grads, bufs


def net_fixtures(Net, seed, full_grads):
    gen = torch.Generator().manual_seed(seed)
    x = f32(torch.randn(4, 3, 32, 32, generator=gen, dtype=torch.float64))
    t = torch.randint(0, 10, (4,), generator=gen)
    data = Fixture()
    data.add("input", x)
    data.add("targets", t)
    out = {"refnet_data": data}
    shapes = glia_param_shapes()
    specs = {name: param_generator(name, shape, seed) for name, shape in shapes.items()}
    params = {name: generated_values(shapes[name], *spec) for name, spec in specs.items()}
    for kind in ("bn", "gn", "ln"):
        logp, loss, grads, bufs = run_net(Net, kind, params, x, t, torch.float64)
        # float32 PyTorch against float64 PyTorch: how much of the 1e-4 tolerance float32
        # rounding alone uses (glia should land in the same range).
        logp32, loss32, grads32, _ = run_net(Net, kind, params, x, t, torch.float32)
        floor = 1e-2 * global_norm(grads.values())
        worst = max([rel_errors(logp32, logp, 0.0), rel_errors(loss32.reshape(1), loss.reshape(1), 0.0)] +
                    [rel_errors(grads32[k], grads[k], floor) for k in grads])
        print(f"  refnet {kind}: loss {loss.item():.6f}; torch float32 vs float64 worst "
              f"norm-rel {worst[0]:.2e} elementwise {worst[1]:.2e} (test tolerance 1e-4)")
        if max(worst) > 2.5e-5:
            print("  WARNING: float32 rounding alone uses over 25% of the tolerance", file=sys.stderr)
        fx = Fixture()
        fx.add("config", [seed], dtype=DTYPE_F64)
        for name in shapes:  # glia's parameter order
            fx.add_generated("param/" + name, shapes[name], *specs[name])
        fx.add("output/logp", logp)
        fx.add("output/loss", loss)
        for name in shapes:
            g = grads[name]
            if full_grads or kind == "bn" or g.numel() < PARTIAL_MIN_NUMEL:
                fx.add("grad/" + name, g)
            else:
                fx.add("grad_rows/" + name, g[:PARTIAL_ROWS])
                fx.add("grad_norm/" + name, g.norm())
        for name, b in bufs.items():
            fx.add("buffer/" + name, b)
        out["refnet_" + kind] = fx
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default tests/fixtures)")
    ap.add_argument("--reference", default=DEFAULT_REFERENCE, help="directory of torch_ref.py")
    ap.add_argument("--seed", type=int, default=20240611, help="base seed")
    ap.add_argument("--full-net-grads", action="store_true",
                    help="store every gn/ln network gradient in full (over the size budget)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    Net = load_net_class(args.reference)
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    fixtures = layer_fixtures(args.seed)
    fixtures.update(net_fixtures(Net, args.seed + 1, args.full_net_grads))
    fixtures.update(conv_extra_fixtures(args.seed + 17))
    total = 0
    for name, fx in fixtures.items():
        size = fx.write(os.path.join(args.out, name + ".glfix"))
        total += size
        print(f"  {name}.glfix: {len(fx.records)} tensors, {size} bytes")
    print(f"total {total} bytes in {len(fixtures)} files under {args.out}")


if __name__ == "__main__":
    main()
