#!/usr/bin/python3
"""Writes tests/ref/optim.bin: torch.optim trajectories on a fixed gradient sequence, which nnopt's optimizers must
reproduce.

Run from the repository root with Debian's torch and numpy (python3-torch 1.13.1+dfsg-4, torch.__version__
"1.13.0a0"; python3-numpy; no PyPI needed):

    /usr/bin/python3 tests/ref/make_optim_fixtures.py

The output is committed, so `make test` needs no Python. It is deterministic (fixed seed): running the script again
rewrites a byte-identical file. The format is the NNFX format of tests/ref/make_fixtures.py, whose writer this script
imports.

The problem: P = 7 parameters in two tensors, "a" (3,) and "b" (2,2). The gradient is not computed from a loss: before
each opt.step() it is set directly, p.grad = G[t] (its slice for p), so the trajectory depends only on x0, G and the
optimizer. x0 and G are rounded to float32 (and stored so); torch then runs in float64 on exactly those values, so
a C mismatch is the C code's own float32 error. A zero gradient row is a zero tensor (not grad = None): torch takes
an ordinary step on it (momentum, moments and weight decay all still move).

Tensors (float32 unless int32 is said; row-major, flat parameter order is a then b, each row-major):
    config  int32 [P, S] = [7, 25]
    views   int32 [0, 3, 3, 4]: offset and size of "a", then of "b"
    x0      (P)      initial parameters, U(-1, 1)
    grads   (S, P)   G: N(0, 1); three entries times 50; zero gradient of b at steps 0 and 17, of a at step 9
    traj:<optimizer>:<args>   (S, P), one per configuration: the flat parameters after each step 1..S.
        <args> is the nnopt argument string in PyTorch's names, lr first (nnopt takes lr separately, via --lr: strip
        it before optim_create); booleans 0/1; betas as beta1=, beta2=. Keys not given have torch's defaults, the
        same as nnopt's registry. One name is written with compact numbers (".8", "1e-6") to fit the C reader's
        63 characters.

Before writing anything, every torch trajectory is checked against a float64 NumPy transcription of the update rule
documented at https://pytorch.org/docs/1.13/optim.html (max abs difference <= 1e-12), and every two trajectories
must differ by more than SEPARATION, so each hyper-parameter visibly changes the fixture (the closest pairs are
adam/amsgrad, ~9e-5: with beta2 = 0.999, v can fall by at most 0.1% a step, so the max barely matters in 25 steps).
Nothing is written if a check fails.
"""
import os
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True   # no __pycache__ next to the fixtures
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import f32, write_fixture  # noqa: E402  (the NNFX writer, with its read-back check)

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

P, S = 7, 25
VIEWS = [(0, (3,)), (3, (2, 2))]   # "a", "b": offset, shape
SEED = 6006
SEPARATION = 5e-5   # every two trajectories differ by more (max abs) than this; a float32 run of the same rules
                    # stays within ~1e-7 (Adam, Adagrad, RMSprop) to ~1e-5 (SGD with momentum, |x| up to ~50) of them

CONFIGS = [  # (torch.optim class name in lower case, nnopt arguments)
    ("sgd", "lr=0.1"),
    ("sgd", "lr=0.1,momentum=0.9"),
    ("sgd", "lr=0.1,momentum=0.9,dampening=0.5"),
    ("sgd", "lr=0.1,momentum=0.9,nesterov=1"),
    ("sgd", "lr=0.1,momentum=0.9,weight_decay=0.05"),
    ("sgd", "lr=0.1,weight_decay=0.05"),
    ("adam", "lr=0.01"),
    ("adam", "lr=.01,beta1=.8,beta2=.99,eps=1e-6,weight_decay=.1"),  # compact: "0.8", "1e-06" would need 65 chars
    ("adam", "lr=0.01,amsgrad=1"),
    ("adamw", "lr=0.01,weight_decay=0.1"),
    ("adamw", "lr=0.01,weight_decay=0.1,amsgrad=1"),
    ("adagrad", "lr=0.1"),
    ("adagrad", "lr=0.1,weight_decay=0.05,eps=1e-06"),
    ("adagrad", "lr=0.1,lr_decay=0.1,initial_accumulator_value=0.5"),
    ("rmsprop", "lr=0.01"),
    ("rmsprop", "lr=0.01,alpha=0.9,momentum=0.5,centered=1"),
    ("rmsprop", "lr=0.01,weight_decay=0.05"),
]
# Clipping before the step, as torch.nn.utils does it over all parameters: (mode, eta, optimizer, arguments), written
# as "clip:<mode>:<eta>:<optimizer>:<arguments>". torch: clip_grad_norm_ (scale eta/(norm+1e-6) when below 1);
# value: clip_grad_value_ (element-wise clamp to [-eta, eta]).
CLIP_CONFIGS = [
    ("torch", 2.0, "sgd", "lr=0.1,momentum=0.9"),
    ("value", 0.5, "sgd", "lr=0.1"),
    ("torch", 1.0, "adam", "lr=0.01"),
]
TORCH = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
         "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop}
BOOLS = ("nesterov", "amsgrad", "centered")


def torch_kwargs(args):
    kw = {}
    for item in args.split(","):
        key, val = item.split("=")
        kw[key] = bool(int(val)) if key in BOOLS else float(val)
    if "beta1" in kw or "beta2" in kw:
        kw["betas"] = (kw.pop("beta1", 0.9), kw.pop("beta2", 0.999))
    return kw


def make_problem():
    g = torch.Generator().manual_seed(SEED)
    x0 = f32(torch.empty(P).uniform_(-1, 1, generator=g))
    G = torch.randn(S, P, generator=g)
    for t, v in [(0, 1), (9, 0), (17, 1)]:   # zero gradient for one tensor: b at step 0, a at 9, b at 17
        o, shape = VIEWS[v]
        G[t, o:o + int(np.prod(shape))] = 0
    # three large entries, in the first half so that their aftermath (e.g. amsgrad's max) shows in the trajectory
    big = [k for k in torch.randperm(S // 2 * P, generator=g).tolist() if G.view(-1)[k] != 0][:3]
    G.view(-1)[big] *= 50
    return x0, f32(G)


def run_torch(name, args, x0, G, clip=None):
    params = [x0[o:o + int(np.prod(s))].clone().reshape(s).requires_grad_() for o, s in VIEWS]
    opt = TORCH[name](params, **torch_kwargs(args))
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    assert not group.get("maximize") and not group.get("foreach") and not group.get("differentiable"), group
    traj = []
    for t in range(S):
        for (o, s), p in zip(VIEWS, params):
            p.grad = G[t, o:o + p.numel()].clone().reshape(s)
        if clip and clip[0] == "torch":
            torch.nn.utils.clip_grad_norm_(params, clip[1])
        elif clip:
            torch.nn.utils.clip_grad_value_(params, clip[1])
        opt.step()
        traj.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return torch.stack(traj), group   # group: every hyper-parameter, torch's defaults filled in


# ------------------------------------------------------------------------------------------------------------------
# The documented update rules (docs 1.13, "Algorithm" boxes), float64 NumPy, one flat vector: all five rules are
# element-wise, so the split into tensors does not matter. h is the torch param group (defaults filled in).

def ref_sgd(x, G, h):
    mu, damp, wd, lr = h["momentum"], h["dampening"], h["weight_decay"], h["lr"]
    b, out = None, []
    for g in G:
        g = g + wd * x
        if mu != 0:
            b = g.copy() if b is None else mu * b + (1 - damp) * g   # first step: b = g, no dampening
            g = g + mu * b if h["nesterov"] else b
        x = x - lr * g
        out.append(x)
    return out


def ref_adam(x, G, h, decoupled=False):
    (b1, b2), eps, wd, lr = h["betas"], h["eps"], h["weight_decay"], h["lr"]
    m = v = vmax = np.zeros_like(x)
    out = []
    for t, g in enumerate(G, 1):
        if decoupled:
            x = x * (1 - lr * wd)            # AdamW: decay the parameters, not the gradient
        else:
            g = g + wd * x                   # Adam: L2 term in the gradient, so it enters m and v
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)           # amsgrad: the max of the raw (uncorrected) v
        vhat = (vmax if h["amsgrad"] else v) / (1 - b2 ** t)
        x = x - lr * (m / (1 - b1 ** t)) / (np.sqrt(vhat) + eps)   # eps after the bias correction
        out.append(x)
    return out


def ref_adagrad(x, G, h):
    lr, wd, eps = h["lr"], h["weight_decay"], h["eps"]
    s, out = np.full_like(x, h["initial_accumulator_value"]), []
    for t, g in enumerate(G, 1):
        g = g + wd * x
        clr = lr / (1 + (t - 1) * h["lr_decay"])
        s = s + g * g
        x = x - clr * g / (np.sqrt(s) + eps)
        out.append(x)
    return out


def ref_rmsprop(x, G, h):
    lr, a, eps, wd, mu = h["lr"], h["alpha"], h["eps"], h["weight_decay"], h["momentum"]
    s = gbar = b = np.zeros_like(x)
    out = []
    for g in G:
        g = g + wd * x
        s = a * s + (1 - a) * g * g
        if h["centered"]:
            gbar = a * gbar + (1 - a) * g
            denom = np.sqrt(s - gbar * gbar) + eps
        else:
            denom = np.sqrt(s) + eps           # eps outside the square root
        if mu > 0:
            b = mu * b + g / denom             # buffer starts at 0 (unlike SGD's b = g)
            x = x - lr * b
        else:
            x = x - lr * g / denom
        out.append(x)
    return out


REFS = {"sgd": ref_sgd, "adam": ref_adam, "adamw": lambda x, G, h: ref_adam(x, G, h, decoupled=True),
        "adagrad": ref_adagrad, "rmsprop": ref_rmsprop}


def main():
    x0, G = make_problem()
    tensors = [("config", torch.tensor([P, S], dtype=torch.int32)),
               ("views", torch.tensor([v for o, s in VIEWS for v in (o, int(np.prod(s)))], dtype=torch.int32)),
               ("x0", x0), ("grads", G)]
    failed = False
    for name, args in CONFIGS:
        traj, group = run_torch(name, args, x0, G)
        ref = np.array(REFS[name](x0.numpy().copy(), G.numpy(), group))
        err = float(np.abs(ref - traj.numpy()).max())
        ok = err <= 1e-12 and np.isfinite(ref).all()
        failed |= not ok
        print(f"{'ok  ' if ok else 'FAIL'} traj:{name}:{args}: transcription max abs diff {err:.3g}, "
              f"|x| up to {float(traj.abs().max()):.3g}")
        tensors.append((f"traj:{name}:{args}", traj))
    for mode, eta, name, args in CLIP_CONFIGS:
        traj, group = run_torch(name, args, x0, G, clip=(mode, eta))
        Gn = G.numpy()
        if mode == "torch":  # the clipping depends on g alone, so the clipped sequence can be made first
            coef = eta / (np.linalg.norm(Gn, axis=1, keepdims=True) + 1e-6)
            Gc = Gn * np.minimum(coef, 1.0)
        else:
            Gc = np.clip(Gn, -eta, eta)
        ref = np.array(REFS[name](x0.numpy().copy(), Gc, group))
        err = float(np.abs(ref - traj.numpy()).max())
        fired = int((np.abs(Gc - Gn) > 0).any(axis=1).sum())
        ok = err <= 1e-12 and fired >= 5
        failed |= not ok
        label = f"clip:{mode}:{eta:g}:{name}:{args}"
        print(f"{'ok  ' if ok else 'FAIL'} {label}: transcription max abs diff {err:.3g}, clipping fired on {fired} "
              f"of {S} steps")
        tensors.append((label, traj))
    trajs = [(n, t) for n, t in tensors if n.startswith(("traj:", "clip:"))]
    for i, (n1, t1) in enumerate(trajs):
        closest = min(float((t1 - t2).abs().max()) for j, (_, t2) in enumerate(trajs) if j != i)
        if closest < SEPARATION:
            print(f"FAIL {n1}: only {closest:.3g} from another trajectory")
            failed = True
    if failed:
        sys.exit("make_optim_fixtures: check failed, nothing written")
    write_fixture("optim.bin", tensors)


if __name__ == "__main__":
    main()
