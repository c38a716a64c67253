#!/usr/bin/env python3
"""Your own network on your own data: glia and PyTorch train the same JSON model spec with the
same recipe on a procedural image data set that neither has seen, and their accuracies are
compared (docs/results.md, "Your own network on your own data").

  /usr/bin/python3 tools/proof/own_data.py --glia build/apps/glia/glia [--work /tmp/glia-own-data]
      [--seeds 1 2] [--epochs 10] [--per-class 300] [--threads 2] [--torch-threads 1]

What it does:
1. Generates the data (numpy, fixed seed): 4 classes, two shapes (disc, cross: random size,
   place and rotation) and two textures (stripes, checker: random period, phase and angle), in
   a random colour on a random background colour (each channel 50-110 levels apart) with
   Gaussian pixel noise (sd 28),
   - RGB 40 x 40 as a PNG image folder WORK/shapes/train/<class>/NNNNN.png with no test/
     (glia splits it with --val-fraction; the PNG files are written here with zlib),
   - grayscale 28 x 28 as MNIST IDX files in WORK/shapes-idx/ (train and t10k).
2. Writes a spec per data set (depthwise and grouped convolutions, GELU, AvgPool2d, Residual,
   LayerNorm / BatchNorm1d, Dropout, Linear, ...).
3. Per seed: `glia train` (--no-augment --optimizer adamw --schedule onecycle, fixed epochs,
   batch, lr, weight decay, threads), and the PyTorch twin of the spec
   (tools/interop/spec_to_torch.py) with the same recipe: AdamW (betas 0.9/0.999, eps 1e-8,
   decoupled weight decay on Conv/Linear weights only, as glia's mask), OneCycleLR with glia's
   shape (pct_start 0.3, cosine, div 25, final div 1e4, no momentum cycling), the same batch
   with the last partial batch kept, cross-entropy, the same per-channel normalisation measured
   on the training images (population std, as glia's), and the same held-out images: the
   --val-fraction split is glia's stratified_split (dataset.hpp) reproduced here with glia's
   xoshiro256** streams, and checked by loading glia's trained model into the twin by name and
   evaluating it on that split: glia's confusion matrix and test loss (to 1e-4), or the script
   stops. The normalisation is checked against the one glia stored in the model file.
4. `glia eval`, `glia predict` on one image, `glia export` (ONNX) on the first seed's model.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "interop"))
from spec_to_torch import build_twin  # noqa: E402
from torch_safetensors import load_file, read_metadata  # noqa: E402

CLASSES = ["checker", "cross", "disc", "stripes"]  # sorted: glia's folder labels are sorted names
VAL_FRACTION = 0.2
BATCH, LR, WEIGHT_DECAY = 32, 0.004, 0.01

RGB_SPEC = {"input": [3, 40, 40], "layers": [
    {"type": "Conv2d", "name": "stem", "in_channels": 3, "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d", "name": "stem_bn", "num_features": 16, "activation": "ReLU"},
    {"type": "AvgPool2d", "kernel_size": 2},
    {"type": "Residual", "name": "res1", "body": [
        {"type": "Conv2d", "in_channels": 16, "out_channels": 16, "kernel_size": 3, "padding": 1, "groups": 16},
        {"type": "Conv2d", "in_channels": 16, "out_channels": 16, "kernel_size": 1, "bias": False},
        {"type": "BatchNorm2d", "num_features": 16},
        {"type": "GELU"}]},
    {"type": "Conv2d", "name": "down", "in_channels": 16, "out_channels": 32, "kernel_size": 3, "stride": 2,
     "padding": 1, "groups": 2},
    {"type": "GroupNorm", "name": "down_gn", "num_groups": 4, "num_channels": 32, "activation": "ReLU"},
    {"type": "Residual", "name": "res2", "body": [
        {"type": "Conv2d", "in_channels": 32, "out_channels": 32, "kernel_size": 3, "padding": 1, "groups": 32},
        {"type": "Conv2d", "in_channels": 32, "out_channels": 32, "kernel_size": 1},
        {"type": "BatchNorm2d", "num_features": 32},
        {"type": "GELU", "approximate": "tanh"}]},
    {"type": "AdaptiveAvgPool2d", "output_size": 2},
    {"type": "Flatten"},
    {"type": "Linear", "name": "fc", "in_features": 128, "out_features": 64},
    {"type": "LayerNorm", "name": "ln", "normalized_shape": 64},
    {"type": "GELU"},
    {"type": "Dropout", "p": 0.2},
    {"type": "Linear", "name": "head", "in_features": 64, "out_features": 4}]}

# IDX data sets have the class names "0" ... "9" at least, so this head scores 10 classes.
GRAY_SPEC = {"input": [1, 28, 28], "layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 12, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d", "num_features": 12},
    {"type": "SiLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Residual", "body": [
        {"type": "Conv2d", "in_channels": 12, "out_channels": 12, "kernel_size": 3, "padding": 1, "groups": 3},
        {"type": "BatchNorm2d", "num_features": 12},
        {"type": "Hardswish"}]},
    {"type": "AvgPool2d", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 588, "out_features": 32},
    {"type": "BatchNorm1d", "num_features": 32},
    {"type": "ReLU"},
    {"type": "Dropout", "p": 0.1},
    {"type": "Linear", "in_features": 32, "out_features": 10}]}


# ---------------------------------------------------------------- data

def pattern_mask(kind, size, rng):
    """A boolean mask [size, size]: a shape (disc, cross) of random scale, place and rotation,
    or a texture (stripes, checker) of random period, phase and angle over the whole image."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    a = rng.uniform(0, np.pi)
    if kind in ("stripes", "checker"):
        period = rng.uniform(0.12, 0.22) * size
        u = (xx * np.cos(a) + yy * np.sin(a)) / period + rng.uniform(0, 1)
        if kind == "stripes":
            return np.floor(u) % 2 == 0
        v = (-xx * np.sin(a) + yy * np.cos(a)) / period + rng.uniform(0, 1)
        return (np.floor(u) + np.floor(v)) % 2 == 0
    r = rng.uniform(0.2, 0.36) * size
    cy, cx = rng.uniform(r + 1, size - r - 1, 2)
    dy, dx = yy - cy, xx - cx
    if kind == "disc":
        return dx * dx + dy * dy <= r * r
    u, v = dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)
    w = r * 0.3
    return ((np.abs(u) <= r) & (np.abs(v) <= w)) | ((np.abs(v) <= r) & (np.abs(u) <= w))


def make_images(n_per_class, size, channels, seed):
    """uint8 images [N, C, size, size] and labels [N], class by class (file order)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, kind in enumerate(CLASSES):
        for _ in range(n_per_class):
            bg = rng.uniform(30, 225, channels)
            fg = np.clip(bg + rng.choice([-1, 1]) * rng.uniform(50, 110, channels), 0, 255)  # +-50..110 per channel
            bg, fg = bg[:, None, None], fg[:, None, None]
            m = pattern_mask(kind, size, rng)[None]
            img = np.where(m, fg, bg) + rng.normal(0, 28, (channels, size, size))
            images.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def write_png(path, chw):
    """An 8-bit PNG (gray or RGB) from [C, H, W] uint8, written with zlib."""
    c, h, w = chw.shape
    rows = np.ascontiguousarray(chw.transpose(1, 2, 0)).reshape(h, w * c)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_folder(root, images, labels):
    for label, kind in enumerate(CLASSES):
        os.makedirs(os.path.join(root, "train", kind), exist_ok=True)
    counters = [0] * len(CLASSES)
    for img, label in zip(images, labels):
        write_png(os.path.join(root, "train", CLASSES[label], f"{counters[label]:05d}.png"), img)
        counters[label] += 1


def write_idx(root, prefix, images, labels):
    os.makedirs(root, exist_ok=True)
    n, _, h, w = images.shape
    with open(os.path.join(root, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, n, h, w) + images.reshape(n, h * w).tobytes())
    with open(os.path.join(root, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x00000801, n) + labels.astype(np.uint8).tobytes())


# ---------------------------------------------------------------- glia's split, in Python

M64 = (1 << 64) - 1


def _splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


class GliaRng:
    """glia::Rng (tensor/random.hpp): xoshiro256** seeded through splitmix64."""

    def __init__(self, seed):
        self.s, x = [], seed & M64
        for _ in range(4):
            x, z = _splitmix(x)
            self.s.append(z)

    @staticmethod
    def stream(seed, a, b=0):
        _, s = _splitmix(seed & M64)
        s ^= (a * 0x9E3779B97F4A7C15) & M64
        _, s = _splitmix(s)
        s ^= (b * 0xD1B54A32D192ED03) & M64
        _, s = _splitmix(s)
        return GliaRng(s)

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        return ((self.next() >> 32) * n) >> 32


def stratified_split(labels, fraction, seed):
    """glia's stratified_split (data/dataset.hpp): (train positions, validation positions)."""
    train, val = [], []
    for k in range(int(labels.max()) + 1):
        members = [i for i, l in enumerate(labels) if l == k]
        rng = GliaRng.stream(seed, 0x5B117F4AC7105, k)
        for i in range(len(members) - 1, 0, -1):
            j = rng.below(i + 1)
            members[i], members[j] = members[j], members[i]
        n = len(members)
        v = max(0, min(int(np.floor(fraction * n + 0.5)), n - 1))
        val += members[:v]
        train += members[v:]
    return np.array(sorted(train)), np.array(sorted(val))


# ---------------------------------------------------------------- the PyTorch twin's training

def normalization(images):
    """glia's compute_normalization: per-channel mean and population std of pixel / 255."""
    x = images.astype(np.float64) / 255.0
    return x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))


def to_input(images, mean, std):
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    return (x - torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)) / torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)


def accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 200]).argmax(1) for i in range(0, len(x), 200)])
    return 100.0 * (pred == y).double().mean().item()


def train_twin(spec, tr_img, tr_lab, te_img, te_lab, seed, epochs):
    """The twin trained with glia's recipe; returns (test accuracy %, seconds)."""
    torch.manual_seed(seed)
    net = build_twin(spec)
    mean, std = normalization(tr_img)
    x, y = to_input(tr_img, mean, std), torch.from_numpy(tr_lab)
    xt, yt = to_input(te_img, mean, std), torch.from_numpy(te_lab)
    decay, rest = [], []
    for m in net.modules():  # glia's mask: weight decay on Conv/Linear weights only
        for name, p in m.named_parameters(recurse=False):
            is_weight = name == "weight" and isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
            (decay if is_weight else rest).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8)
    steps = (len(x) + BATCH - 1) // BATCH
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps * epochs, pct_start=0.3,
                                                anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4,
                                                cycle_momentum=False)
    g = torch.Generator().manual_seed(seed)
    start, losses = time.time(), []
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=g)
        total = 0.0
        for b in range(steps):
            idx = order[b * BATCH:(b + 1) * BATCH]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    print("  PyTorch train loss per epoch: " + " ".join(f"{v:.3f}" for v in losses), flush=True)
    return accuracy(net, xt, yt), time.time() - start


# ---------------------------------------------------------------- glia

def run(cmd, log):
    print("$", " ".join(cmd), flush=True)
    t = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(log, "w") as f:
        f.write(p.stdout)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-3000:]}")
    return p.stdout, time.time() - t


def glia_train(args, spec_path, data, out, seed, extra):
    cmd = [args.glia, "train", "--model", spec_path, "--data", data, "--out", out, "--overwrite", "--no-augment",
           "--optimizer", "adamw", "--schedule", "onecycle", "--lr", str(LR), "--weight-decay", str(WEIGHT_DECAY),
           "--epochs", str(args.epochs), "--batch", str(BATCH), "--seed", str(seed), "--threads", str(args.threads)]
    text, secs = run(cmd + extra, out + ".log")
    acc = float(re.search(r"final test accuracy ([0-9.]+)%", text).group(1))
    return acc, secs, text


def check_on_glia_split(run_dir, te_img, te_lab):
    """glia's trained model loaded into the twin by name and evaluated on our test images gives
    glia's confusion matrix and test loss: the reproduced split, the normalisation and the
    names are glia's (the script stops otherwise). Returns glia's normalisation."""
    model_path = os.path.join(run_dir, "model.safetensors")
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    meta = read_metadata(model_path)
    net = build_twin(json.loads(meta["spec"]))
    net.load_state_dict(load_file(model_path), strict=True)
    norm = json.loads(meta["normalization"])
    net.eval()
    with torch.no_grad():
        logits = net(to_input(te_img, norm["mean"], norm["std"]))
    loss = F.cross_entropy(logits, torch.from_numpy(te_lab)).item()
    k = len(metrics["confusion"])
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (te_lab, logits.argmax(1).numpy()), 1)
    same = confusion.tolist() == metrics["confusion"] and abs(loss - metrics["epochs"][-1]["test_loss"]) < 1e-4
    print(f"  glia's model in the twin on the reproduced split: loss {loss:.5f} (glia "
          f"{metrics['epochs'][-1]['test_loss']:.5f}), confusion {'the same' if same else 'DIFFERENT'}", flush=True)
    if not same:
        sys.exit(f"the reproduced split or the interop differs from glia's: {confusion.tolist()} vs {metrics['confusion']}")
    return norm


def experiment(args, name, spec, data, extra, splits):
    spec_path = os.path.join(args.work, f"{name}.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=1)
    rows = []
    for seed in args.seeds:
        tr_img, tr_lab, te_img, te_lab = splits(seed)
        out = os.path.join(args.work, f"run-{name}-s{seed}")
        g_acc, g_secs, _ = glia_train(args, spec_path, data, out, seed, extra)
        with open(os.path.join(out, "metrics.json")) as f:
            g_losses = [e["train_loss"] for e in json.load(f)["epochs"]]
        print("  glia    train loss per epoch: " + " ".join(f"{v:.3f}" for v in g_losses), flush=True)
        norm = check_on_glia_split(out, te_img, te_lab)
        mean, std = normalization(tr_img)
        assert np.allclose(mean, norm["mean"], atol=1e-6) and np.allclose(std, norm["std"], atol=1e-6), (mean, std, norm)
        t_acc, t_secs = train_twin(spec, tr_img, tr_lab, te_img, te_lab, seed, args.epochs)
        print(f"  {name} seed {seed}: glia {g_acc:.2f}% ({g_secs:.0f} s), PyTorch {t_acc:.2f}% ({t_secs:.0f} s), "
              f"{len(tr_lab)} training / {len(te_lab)} test images", flush=True)
        rows.append((seed, g_acc, t_acc, g_secs, t_secs))
    g_mean = sum(r[1] for r in rows) / len(rows)
    t_mean = sum(r[2] for r in rows) / len(rows)
    print(f"  {name} mean: glia {g_mean:.2f}%, PyTorch {t_mean:.2f}%", flush=True)
    return rows, g_mean, t_mean


def use_model(args, model, data, extra, image):
    for cmd in (["eval", "--model", model, "--data", data, "--threads", str(args.threads)] + extra,
                ["predict", "--model", model, image],
                ["export", "--model", model, "--onnx", os.path.join(args.work, "shapes.onnx")]):
        text, _ = run([args.glia] + cmd, os.path.join(args.work, cmd[0] + ".log"))
        print("  " + "\n  ".join(text.strip().splitlines()[-6:]), flush=True)
    try:
        import onnx  # Debian's python3-onnx
        onnx.checker.check_model(os.path.join(args.work, "shapes.onnx"), full_check=True)
        print("  onnx.checker.check_model(full_check=True): the exported model is valid", flush=True)
    except ImportError:
        print("  (python3-onnx absent: the ONNX file is not checked)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--glia", required=True, help="the glia program")
    ap.add_argument("--work", default="/tmp/glia-own-data")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=300, help="RGB images per class (IDX: the same, plus 25%% test)")
    ap.add_argument("--threads", type=int, default=2, help="glia's threads")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="PyTorch's threads (1: on a shared 2-core machine, 2 threads ran 20x slower)")
    ap.add_argument("--skip-idx", action="store_true", help="only the RGB image folder")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    t0 = time.time()

    rgb, rgb_lab = make_images(args.per_class, 40, 3, seed=2026)
    folder = os.path.join(args.work, "shapes")
    write_folder(folder, rgb, rgb_lab)
    gray, gray_lab = make_images(args.per_class + args.per_class // 4, 28, 1, seed=2027)
    te = np.zeros(len(gray_lab), dtype=bool)
    for k in range(len(CLASSES)):  # the last quarter of each class's images: t10k
        idx = np.flatnonzero(gray_lab == k)
        te[idx[args.per_class:]] = True
    idx_dir = os.path.join(args.work, "shapes-idx")
    write_idx(idx_dir, "train", gray[~te], gray_lab[~te])
    write_idx(idx_dir, "t10k", gray[te], gray_lab[te])
    print(f"data: {len(rgb_lab)} RGB 40x40 PNG files in {folder}/train/<class>/, "
          f"{int((~te).sum())} + {int(te.sum())} gray 28x28 IDX images in {idx_dir} ({time.time() - t0:.0f} s)", flush=True)

    def rgb_split(seed):
        tr, va = stratified_split(rgb_lab, VAL_FRACTION, seed)
        return rgb[tr], rgb_lab[tr], rgb[va], rgb_lab[va]

    val = ["--val-fraction", str(VAL_FRACTION)]
    results = {"rgb": experiment(args, "shapes-rgb", RGB_SPEC, folder, val, rgb_split)}
    first = os.path.join(args.work, f"run-shapes-rgb-s{args.seeds[0]}", "model.safetensors")
    fresh, _ = make_images(1, 40, 3, seed=7)  # one new image per class, not in the data set
    write_png(os.path.join(args.work, "new-cross.png"), fresh[CLASSES.index("cross")])
    use_model(args, first, folder, val + ["--seed", str(args.seeds[0])], os.path.join(args.work, "new-cross.png"))
    if not args.skip_idx:
        results["idx"] = experiment(args, "shapes-gray", GRAY_SPEC, idx_dir, [],
                                    lambda seed: (gray[~te], gray_lab[~te], gray[te], gray_lab[te]))
    print("\nsummary (test accuracy %, per seed: glia / PyTorch)")
    for name, (rows, g_mean, t_mean) in results.items():
        per_seed = ", ".join(f"seed {r[0]}: {r[1]:.2f} / {r[2]:.2f}" for r in rows)
        print(f"  {name}: {per_seed}; mean {g_mean:.2f} / {t_mean:.2f}")
    print(f"total {time.time() - t0:.0f} s wall")


if __name__ == "__main__":
    main()
