#!/usr/bin/env python3
"""Golden values for glia's optimisers and learning-rate schedules, from PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tools/golden/optim_golden.py
It prints C++ initialisers that tests/test_optim.cpp holds verbatim (values in float64).
"""
import torch

torch.set_default_dtype(torch.float64)
W0 = [0.5, -1.5, 2.0, 0.0, -0.25]
GRADS = [[0.1, -0.2, 0.3, 0.4, -0.5], [-0.3, 0.1, 0.0, 0.2, 0.6], [0.05, 0.5, -0.4, -0.1, 0.2]]


def run(make_opt):
    w = torch.nn.Parameter(torch.tensor(W0))
    opt = make_opt([w])
    for g in GRADS:
        opt.zero_grad()
        w.grad = torch.tensor(g)
        opt.step()
    return w.detach().tolist()


def show(name, values):
    print(f"  // {name}\n  {{{', '.join(repr(v) for v in values)}}},")


print("// optimisers: 3 steps from W0 with GRADS")
show("SGD lr 0.1 momentum 0.9", run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)))
show("SGD lr 0.1 momentum 0.9 nesterov wd 0.01", run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)))
show("Adam lr 0.01 wd 0.1", run(lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1)))
show("AdamW lr 0.01 wd 0.1", run(lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)))

print("// OneCycleLR max 0.1 total 20, cos then linear, lr per step 0..19")
for anneal in ("cos", "linear"):
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20, anneal_strategy=anneal,
                                                cycle_momentum=False)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    show(f"OneCycle {anneal}", lrs)
