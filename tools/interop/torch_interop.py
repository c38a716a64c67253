#!/usr/bin/env python3
"""Proof that reference-network weights go both ways between glia and PyTorch through
safetensors state_dicts, with the same test accuracy and logits (docs/interop.md).

For each norm (bn, gn, ln):
  glia -> PyTorch: train with glia-cifar10 (short run), write its weights as a state_dict
    (glia-cifar10 eval --save-weights) and its logits on the first N test images
    (--save-logits); load the file into torch_ref.py's Net(norm) with load_state_dict (strict,
    no renaming) and compare accuracy and logits on the same images.
  PyTorch -> glia: train Net(norm) in PyTorch with torch_train.py's recipe (short run), save its
    state_dict as a weights-only safetensors file (no glia metadata); evaluate it with
    glia-cifar10 eval --checkpoint FILE.safetensors --norm NORM and compare the same way.
Passes when, every time, the accuracies differ by at most 0.05 points and the logits by at most
1e-4. Run with Debian's python3-torch (not needed at test time):
  /usr/bin/python3 tools/interop/torch_interop.py --glia build/examples/cifar10/glia-cifar10 \\
      --data ../shared/data/cifar-10-batches-bin
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from torch_safetensors import load_file, read_metadata, save_file  # noqa: E402

ACC_TOL, LOGIT_TOL = 0.05, 1e-4


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return out


def glia_accuracy(text):
    m = re.search(r"accuracy ([0-9.]+)% \((\d+)/(\d+)\)", text)
    if not m:
        raise SystemExit("no accuracy in glia-cifar10's output:\n" + text)
    return 100.0 * int(m.group(2)) / int(m.group(3))


def torch_logits(model, x):
    """Net's logits [N, 10] (its forward ends in log_softmax: the head's output is taken)."""
    got = []
    hook = model.head.register_forward_hook(lambda m, i, o: got.append(o.flatten(1)))
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), 500):
            model(x[i:i + 500])
    hook.remove()
    return torch.cat(got)


def compare(direction, norm, glia_acc, logits_glia, logits_torch, labels):
    torch_acc = 100.0 * (logits_torch.argmax(1) == labels).sum().item() / len(labels)
    diff = (logits_glia - logits_torch).abs().max().item()
    same_pred = (logits_glia.argmax(1) == logits_torch.argmax(1)).sum().item()
    ok = abs(glia_acc - torch_acc) <= ACC_TOL and diff <= LOGIT_TOL
    row = {"direction": direction, "norm": norm, "glia_accuracy": round(glia_acc, 2), "torch_accuracy": round(torch_acc, 2),
           "max_abs_logit_diff": diff, "same_predictions": same_pred, "images": len(labels), "pass": ok}
    print(json.dumps(row), flush=True)
    return row


def train_torch(net, xtr, ytr, epochs, batch, seed, tt):
    """torch_train.py's loop and recipe (its schedule read over 20 epochs), without its evaluation."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.95)
    for epoch in range(epochs):
        for g in opt.param_groups:
            g["lr"] = tt.lr_at(epoch, max(epochs, 20))
        net.train()
        perm = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(ytr), batch):
            idx = perm[i:i + batch]
            xb = (tt.augment(xtr[idx].float() / 255, gen) - tt.MEAN) / tt.STD
            opt.zero_grad(set_to_none=True)
            F.nll_loss(net(xb), ytr[idx]).backward()
            opt.step()
    return net


def glia_to_torch(a, norm, tt, Net, x, y):
    out = os.path.join(a.work, f"glia-{norm}")
    run([a.glia, "train", "--data", a.data, "--norm", norm, "--epochs", str(a.epochs), "--train-limit", str(a.train_limit),
         "--test-limit", str(a.test_limit), "--threads", str(a.threads), "--seed", str(a.seed), "--out", out, "--overwrite"])
    weights, logits = out + "/weights.safetensors", out + "/logits.safetensors"
    text = run([a.glia, "eval", "--checkpoint", out + "/last.ckpt", "--data", a.data, "--test-limit", str(a.test_limit),
                "--threads", str(a.threads), "--save-weights", weights, "--save-logits", logits])
    net = Net(norm)
    net.load_state_dict(load_file(weights))  # strict: every name and shape must match
    g = load_file(logits)
    if not torch.equal(g["labels"], y):
        raise SystemExit("glia's labels are not the test set's")
    return compare("glia -> PyTorch", norm, glia_accuracy(text), g["logits"], torch_logits(net, x), y)


def torch_to_glia(a, norm, tt, Net, x, y, xtr, ytr):
    t0 = time.time()
    net = train_torch(Net(norm), xtr[:a.train_limit], ytr[:a.train_limit], a.epochs, 32, a.seed, tt)
    print(f"PyTorch training of {norm}: {time.time() - t0:.1f} s", flush=True)
    weights = os.path.join(a.work, f"torch-{norm}.safetensors")
    save_file(net.state_dict(), weights)  # weights-only, no glia metadata
    assert read_metadata(weights) == {}
    logits = os.path.join(a.work, f"torch-{norm}-logits.safetensors")
    text = run([a.glia, "eval", "--checkpoint", weights, "--norm", norm, "--data", a.data, "--test-limit", str(a.test_limit),
                "--threads", str(a.threads), "--save-logits", logits])
    g = load_file(logits)
    return compare("PyTorch -> glia", norm, glia_accuracy(text), g["logits"], torch_logits(net, x), y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glia", default=os.path.join(REPO, "build", "examples", "cifar10", "glia-cifar10"))
    ap.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data", "cifar-10-batches-bin"))
    ap.add_argument("--reference", default=os.path.join(REPO, "..", "shared", "reference"), help="folder of torch_ref.py, torch_train.py")
    ap.add_argument("--norms", nargs="+", default=["bn", "gn", "ln"], choices=["bn", "gn", "ln"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=4000)
    ap.add_argument("--test-limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="/tmp/glia-torch-interop")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    sys.path.insert(0, a.reference)
    import torch_train as tt  # noqa: E402  (its data loading, augmentation, schedule)
    from torch_ref import Net  # noqa: E402

    xtr, ytr = tt.load_split(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = tt.load_split(a.data, ["test_batch.bin"])
    x = ((xte[:a.test_limit].float() / 255 - tt.MEAN) / tt.STD).contiguous()
    y = yte[:a.test_limit]
    rows = []
    for norm in a.norms:
        rows.append(glia_to_torch(a, norm, tt, Net, x, y))
        rows.append(torch_to_glia(a, norm, tt, Net, x, y, xtr, ytr))
    print(f"\n| direction | norm | glia accuracy | PyTorch accuracy | max abs logit difference | same predictions |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['direction']} | {r['norm']} | {r['glia_accuracy']:.2f}% | {r['torch_accuracy']:.2f}% | "
              f"{r['max_abs_logit_diff']:.2e} | {r['same_predictions']}/{r['images']} |")
    bad = [r for r in rows if not r["pass"]]
    print("PASS" if not bad else f"FAIL: {len(bad)} of {len(rows)} comparisons out of tolerance")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
