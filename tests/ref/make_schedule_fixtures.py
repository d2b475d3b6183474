#!/usr/bin/python3
"""Writes tests/ref/schedule.bin: learning rates that torch.optim.lr_scheduler gives, which nnopt's schedules
(optim/schedule.c: schedule_lr, schedule_epoch_end) must reproduce; read by tests/test_schedule.c.

Run from the repository root with Debian's torch (python3-torch 1.13.1):

    /usr/bin/python3 tests/ref/make_schedule_fixtures.py

The output is committed, so `make test` needs no Python; the script is deterministic. The format is the NNFX format
of tests/ref/make_fixtures.py, whose writer this script imports.

nnopt counts epochs from 1 and steps from 0 over the whole run; a torch scheduler stepped once per epoch (or per
step) has last_epoch = epoch - 1 (or = step). Each tensor holds the rate torch's optimizer has in epoch 1..E (or at
step 0..total-1), read from param_groups[0]["lr"] before that epoch's (step's) scheduler.step(). The mapping:
  step       Zaremba: lr, constant through epoch decay_start, then times decay per epoch. torch has no class for
             it; it is MultiStepLR with one milestone per epoch from decay_start on (gamma = decay).
  multistep  MultiStepLR(milestones, gamma) stepped once per epoch.
  cosine     per step. Warm-up lr (s+1)/warmup for s < warmup is LinearLR(start_factor=1/warmup, end_factor=1,
             total_iters=warmup-1); then CosineAnnealingLR(T_max=total-warmup, eta_min=min_lr), joined by
             SequentialLR(milestones=[warmup]); without warm-up CosineAnnealingLR(T_max=total) alone. Both reach
             min_lr at step `total`, one past the run's last step (total = the run's number of steps), so the last
             step uses a rate just above min_lr in both. (Past T_max torch's cosine rises again and nnopt's stays at
             min_lr; the run never goes there, and the fixture stops at total - 1.)
  plateau    ReduceLROnPlateau(mode="min", factor=1/plateau_factor, patience=0, threshold=0), stepped with each
             epoch's validation loss: nnopt reduces after any epoch whose loss is not strictly below the best so
             far, which is torch's rule with threshold=0. torch's default threshold=1e-4 (rel) also reduces after
             an improvement smaller than 1e-4 relative, which nnopt counts as an improvement: the script prints
             where the default would differ on the fixture's losses (one loss is placed in that band to show it).
             torch also skips a reduction smaller than its eps=1e-8; the rates here stay far above it.
Before writing, every torch sequence is checked against the closed form of nnopt's definition in float64 (max
relative difference <= 1e-6, which also catches a scheduler composed wrongly); nothing is written if one fails.

Tensors (float32; lr:<kind>:<nnopt settings> as Schedule fields, per epoch 1..E or per step 0..total-1):
    lr:step:lr=20,decay_start=4,decay=0.5           (13) per epoch
    lr:step:lr=1,decay_start=2,decay=0.8            (10)
    lr:multistep:lr=1,milestones=2,4,gamma=0.1      (8)
    lr:multistep:lr=0.1,milestones=3,6,7,gamma=0.3  (10)
    lr:cosine:lr=1,warmup=4,total=30,min_lr=0.1     (30) per step
    lr:cosine:lr=0.5,warmup=0,total=25,min_lr=0     (25)
    lr:cosine:lr=0.3,warmup=1,total=12,min_lr=0.01  (12)
    valid   (12) the validation losses the plateau schedules see, at the end of epochs 1..12
    lr:plateau:lr=20,plateau_factor=4               (13) per epoch 1..13 (epoch e uses the losses of 1..e-1)
    lr:plateau:lr=1,plateau_factor=3                (13)
"""
import math
import os
import sys
import warnings

import torch

sys.dont_write_bytecode = True   # no __pycache__ next to the fixtures
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_fixture  # noqa: E402  (the NNFX writer, with its read-back check)

from torch.optim.lr_scheduler import (CosineAnnealingLR, LinearLR, MultiStepLR, ReduceLROnPlateau,  # noqa: E402
                                      SequentialLR)

# 4.8 * (1 - 5e-5) improves on 4.8 by less than torch's default threshold 1e-4: nnopt keeps the rate there
VALID = torch.tensor([5.0, 4.8, 4.8 * (1 - 5e-5), 4.9, 4.7, 4.7, 4.6, 4.65, 4.5, 4.5, 4.4, 4.45],
                     dtype=torch.float32).double().tolist()   # rounded to float32 as stored, so C sees the same


def optimizer(lr):
    return torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=lr)


def rates(opt, sched, n, metrics=None):
    out = []
    for k in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()   # no gradient: a no-op, but keeps torch from warning that the scheduler stepped first
        sched.step(*([] if metrics is None else [metrics[k]]))
    return out


def step_decay(lr, decay_start, decay, epochs):
    opt = optimizer(lr)
    return rates(opt, MultiStepLR(opt, list(range(decay_start, epochs + 1)), gamma=decay), epochs)


def multistep(lr, milestones, gamma, epochs):
    opt = optimizer(lr)
    return rates(opt, MultiStepLR(opt, milestones, gamma=gamma), epochs)


def cosine(lr, warmup, total, min_lr):
    opt = optimizer(lr)
    if warmup == 0:
        return rates(opt, CosineAnnealingLR(opt, T_max=total, eta_min=min_lr), total)
    # total_iters=0 would divide by zero; with warmup = 1 the factor is 1 throughout either way
    warm = LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=max(warmup - 1, 1))
    cos = CosineAnnealingLR(opt, T_max=total - warmup, eta_min=min_lr)
    with warnings.catch_warnings():   # SequentialLR itself calls the deprecated step(0) at the milestone
        warnings.simplefilter("ignore", UserWarning)
        return rates(opt, SequentialLR(opt, [warm, cos], milestones=[warmup]), total)


def plateau(lr, factor, threshold=0.0):
    opt = optimizer(lr)
    sched = ReduceLROnPlateau(opt, mode="min", factor=1 / factor, patience=0, threshold=threshold)
    return rates(opt, sched, len(VALID) + 1, VALID + [0.0])


# nnopt's definitions (optim/schedule.c), in float64, as the check on the torch compositions above
def closed_form(kind, s, n):
    if kind == "step":
        return [s["lr"] * s["decay"] ** max(0, e - s["decay_start"]) for e in range(1, n + 1)]
    if kind == "multistep":
        return [s["lr"] * s["gamma"] ** sum(m <= e - 1 for m in s["milestones"]) for e in range(1, n + 1)]
    if kind == "cosine":
        w, T = s["warmup"], s["total"]
        return [s["lr"] * (k + 1) / w if k < w else
                s["min_lr"] + 0.5 * (s["lr"] - s["min_lr"]) * (1 + math.cos(math.pi * min(1, (k - w) / (T - w))))
                for k in range(n)]
    out, lr, best = [], s["lr"], math.inf
    for v in VALID + [0.0]:
        out.append(lr)
        if v < best:
            best = v
        else:
            lr /= s["plateau_factor"]
    return out


def main():
    cases = [  # (kind, settings, torch rates)
        ("step", dict(lr=20, decay_start=4, decay=0.5), step_decay(20, 4, 0.5, 13)),
        ("step", dict(lr=1, decay_start=2, decay=0.8), step_decay(1, 2, 0.8, 10)),
        ("multistep", dict(lr=1, milestones=[2, 4], gamma=0.1), multistep(1, [2, 4], 0.1, 8)),
        ("multistep", dict(lr=0.1, milestones=[3, 6, 7], gamma=0.3), multistep(0.1, [3, 6, 7], 0.3, 10)),
        ("cosine", dict(lr=1, warmup=4, total=30, min_lr=0.1), cosine(1, 4, 30, 0.1)),
        ("cosine", dict(lr=0.5, warmup=0, total=25, min_lr=0), cosine(0.5, 0, 25, 0)),
        ("cosine", dict(lr=0.3, warmup=1, total=12, min_lr=0.01), cosine(0.3, 1, 12, 0.01)),
        ("plateau", dict(lr=20, plateau_factor=4), plateau(20, 4)),
        ("plateau", dict(lr=1, plateau_factor=3), plateau(1, 3)),
    ]
    tensors = [("valid", torch.tensor(VALID, dtype=torch.float64))]
    failed = False
    for kind, s, got in cases:
        want = closed_form(kind, s, len(got))
        rel = max(abs(g - w) / abs(w) for g, w in zip(got, want))
        changes = sum(a != b for a, b in zip(want, want[1:]))
        ok = rel <= 1e-6 and changes >= 2
        failed |= not ok
        label = "lr:" + kind + ":" + ",".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                                              for k, v in s.items())
        print(f"{'ok  ' if ok else 'FAIL'} {label}: {len(got)} rates, max rel diff from the closed form {rel:.2g}")
        tensors.append((label, torch.tensor(got, dtype=torch.float64)))
    default = plateau(20, 4, threshold=1e-4)
    differ = [e + 1 for e, (a, b) in enumerate(zip(default, cases[-2][2])) if a != b]
    print(f"note: ReduceLROnPlateau's default threshold=1e-4 gives other rates than nnopt at epochs {differ}")
    if failed or not differ:
        sys.exit("make_schedule_fixtures: check failed, nothing written")
    write_fixture("schedule.bin", tensors)


if __name__ == "__main__":
    main()
