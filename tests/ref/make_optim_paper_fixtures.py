#!/usr/bin/python3
"""Writes tests/ref/optim_paper.bin: trajectories of the optimizers torch.optim lacks, computed in float64 NumPy from
the update rules as their papers publish them (not from nnopt's C), which tests/test_optim_paper.c must reproduce.

Run from the repository root (Debian's python3-numpy, and python3-torch only for the shared NNFX writer):

    /usr/bin/python3 tests/ref/make_optim_paper_fixtures.py

The output is committed, so `make test` needs no Python. It is deterministic (fixed seed): running it again rewrites
a byte-identical file. The format is the NNFX format of tests/ref/make_fixtures.py, whose writer this script imports.

The rules, with the options they check:
  acclip   Zhang, Karimireddy, Veit, Kim, Reddi, Kumar, Sra (2020), "Why are adaptive methods good for attention
           models?", Algorithm 1 (ACClip): m = b1 m + (1-b1) g; tau^a = b2 tau^a + (1-b2) |g|^a;
           x -= lr min(tau / (|m| + eps), 1) m, with g = grad + wd x. The paper has no bias correction; with
           bias_correction=1, m and tau^a are divided by 1 - b1^t and 1 - b2^t at step t = 1, 2, ... before they are
           used, as Adam does (Kingma & Ba 2015, Algorithm 1), and tau = (corrected tau^a)^(1/a).
  sgdclip, momclip, mixclip
           Zhang, Jin, Fang, Wang (2020), "Improved analysis of clipping algorithms for non-convex optimization",
           Algorithm 1 (the general clipping framework): m = beta m + (1-beta) g;
           x -= nu h(||m||) m + (1-nu) h(||g||) g, with the paper's hard factor h(r) = min(lr, gamma / r), or with
           soft=1 the factor h(r) = lr / (1 + lr r / gamma) of the authors' repository (zbh2047/clipping-algorithms,
           algorithm.py, MixClip.update; the paper's Appendix F). sgdclip and momclip are nu = 1, mixclip takes nu;
           per_layer=1 takes the norms per named tensor ("a", "b") instead of over all parameters. m starts at 0.
  lamb     You, Li, Reddi, Hseu, Kumar, Bhojanapalli, Song, Demmel, Keutzer, Hsieh (2020), "Large batch
           optimization for deep learning: training BERT in 76 minutes" (ICLR 2020), Algorithm 2 (LAMB), per named
           tensor ("a", "b"): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; m_hat = m / (1-b1^t); v_hat = v / (1-b2^t);
           r = m_hat / (sqrt(v_hat) + eps); x -= lr phi(||x||) / ||r + wd x|| (r + wd x), with phi the identity and
           eps outside the square root, as published. The paper leaves a zero norm undefined; nnopt (optim/lamb.c)
           takes the trust ratio as 1 then, and so does this script, but no trajectory here reaches it with a
           nonzero step (x0 has no zero tensor, and b's zero gradient at step 0 makes r + wd x = 0 only when wd = 0).
Keys not given take nnopt's registry defaults, repeated in DEFAULTS below; for soft that is 0, the paper's hard
factor, so a trajectory without soft= checks that default.

The problem: P = 7 parameters in two tensors, "a" (3,) and "b" (2,2), S = 10 steps. The gradient is not computed
from a loss: step t uses row t of a fixed sequence G. x0 and G are rounded to float32 (and stored so); the rules run
in float64 on exactly those values, so a C mismatch is the C code's own float32 error.

Tensors (float32 unless int32 is said; row-major; flat parameter order is a then b):
    config  int32 [P, S] = [7, 10]
    views   int32 [0, 3, 3, 4]: offset and size of "a", then of "b"
    x0      (P)      initial parameters, U(-1, 1)
    grads   (S, P)   N(0, 1); two entries times 20 (steps 2 and 5); zero gradient of b at step 0
    traj:<optimizer>:<args>   (S, P): the flat parameters after each step 1..S. <args> is the nnopt argument
        string, lr first (nnopt takes lr separately: strip it before optim_create).

Before writing anything the script checks that each trajectory exercises what it is there for, and writes nothing
if a check fails: flipping its bias_correction or soft, or for LAMB taking one trust ratio over all parameters
instead of one per tensor, moves the trajectory by more than SEPARATION (so a C test at ~1e-6 tells the two apart);
every hard-factor run clips on some steps and not on others; every ACClip run clips some coordinates and not
others; every LAMB run has trust ratios below 1 and others of at least 1; the soft factor lies within
[hard / 2, hard].
"""
import os
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True   # no __pycache__ next to the fixtures
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_fixture  # noqa: E402  (the NNFX writer, with its read-back check)

P, S = 7, 10
VIEWS = [(0, 3), (3, 4)]   # "a", "b": offset, size
SEED = 2020
SEPARATION = 1e-3

DEFAULTS = {
    "acclip": {"beta1": 0.9, "beta2": 0.99, "eps": 1e-5, "alpha": 1.0, "weight_decay": 0.0, "bias_correction": 0},
    "sgdclip": {"beta": 0.9, "gamma": 1.0, "per_layer": 0, "soft": 0},
    "momclip": {"beta": 0.9, "gamma": 1.0, "per_layer": 0, "soft": 0},
    "mixclip": {"beta": 0.9, "gamma": 1.0, "nu": 0.7, "per_layer": 0, "soft": 0},
    "lamb": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.0, "layerwise": 1},
}
CONFIGS = [  # (optimizer, nnopt arguments with lr first)
    ("acclip", "lr=0.05"),
    ("acclip", "lr=0.05,bias_correction=1"),
    ("acclip", "lr=0.05,alpha=2,beta1=0.8,bias_correction=1"),
    ("acclip", "lr=.05,alpha=1.5,weight_decay=.1,bias_correction=1"),   # compact numbers: names fit 63 chars
    ("sgdclip", "lr=0.5,gamma=0.3"),
    ("sgdclip", "lr=0.5,gamma=0.3,soft=1"),
    ("sgdclip", "lr=0.5,beta=0,gamma=2"),     # nu = 0 of the framework: clipped SGD on the raw gradient
    ("momclip", "lr=0.5,gamma=0.3"),
    ("momclip", "lr=0.5,gamma=0.3,soft=1"),
    ("mixclip", "lr=0.5,gamma=0.3"),
    ("mixclip", "lr=0.5,gamma=0.3,soft=1"),
    ("mixclip", "lr=.5,beta=.5,gamma=.3,nu=.4,per_layer=1"),
    ("mixclip", "lr=.5,beta=.5,gamma=.3,nu=.4,per_layer=1,soft=1"),
    ("sgdclip", "lr=0.5,beta=0.8,gamma=0.2,per_layer=1,soft=1"),
    ("lamb", "lr=0.05"),
    ("lamb", "lr=0.05,weight_decay=0.1"),
    ("lamb", "lr=0.02,beta1=0.8,beta2=0.9,eps=1e-3,weight_decay=0.3"),
]


def parse(name, args):
    h = dict(DEFAULTS[name])
    lr = None
    for item in args.split(","):
        key, val = item.split("=")
        if key == "lr":
            lr = float(val)
        else:
            assert key in h, (name, key)
            h[key] = float(val)
    return lr, h


def make_problem():
    rng = np.random.default_rng(SEED)
    x0 = rng.uniform(-1, 1, P).astype(np.float32).astype(np.float64)
    G = rng.standard_normal((S, P))
    G[0, 3:] = 0                      # b has no gradient at the first step: zero norms, zero moments
    G[2, 1] *= 20                     # two spikes, where clipping must act
    G[5, 5] *= 20
    return x0, G.astype(np.float32).astype(np.float64)


# ------------------------------------------------------------------------------------------------------------------
# The published rules, float64, one flat vector.

def acclip(x, G, lr, h, stats):
    b1, b2, eps, a, wd = h["beta1"], h["beta2"], h["eps"], h["alpha"], h["weight_decay"]
    m, tau_a, out = np.zeros_like(x), np.zeros_like(x), []
    for t, g in enumerate(G, 1):
        g = g + wd * x
        m = b1 * m + (1 - b1) * g
        tau_a = b2 * tau_a + (1 - b2) * np.abs(g) ** a
        m_used, tau_a_used = m, tau_a
        if h["bias_correction"]:
            m_used, tau_a_used = m / (1 - b1 ** t), tau_a / (1 - b2 ** t)
        clip = np.minimum(tau_a_used ** (1 / a) / (np.abs(m_used) + eps), 1.0)
        x = x - lr * clip * m_used
        stats["clipped"] += int((clip < 1).sum())
        stats["unclipped"] += int((clip == 1).sum())
        out.append(x)
    return out


def hard(lr, gamma, r):
    return lr if r == 0 else min(lr, gamma / r)


def soft(lr, gamma, r):
    return lr / (1 + lr * r / gamma)


def clipping_framework(x, G, lr, h, nu, stats):
    beta, gamma = h["beta"], h["gamma"]
    factor = soft if h["soft"] else hard
    groups = [slice(o, o + n) for o, n in VIEWS] if h["per_layer"] else [slice(0, P)]
    m, out = np.zeros_like(x), []
    for g in G:
        m = beta * m + (1 - beta) * g
        x = x.copy()
        for s in groups:
            rm, rg = np.linalg.norm(m[s]), np.linalg.norm(g[s])
            for r in (rm, rg):
                assert hard(lr, gamma, r) / 2 <= soft(lr, gamma, r) <= hard(lr, gamma, r)
            stats["clipped" if lr * rm > gamma else "unclipped"] += 1
            x[s] = x[s] - nu * factor(lr, gamma, rm) * m[s] - (1 - nu) * factor(lr, gamma, rg) * g[s]
        out.append(x)
    return out


def lamb(x, G, lr, h, stats):
    """layerwise=0 (one trust ratio over all parameters) is not an nnopt option: only the check's contrast."""
    b1, b2, eps, wd = h["beta1"], h["beta2"], h["eps"], h["weight_decay"]
    groups = [slice(o, o + n) for o, n in VIEWS] if h["layerwise"] else [slice(0, P)]
    m, v, out = np.zeros_like(x), np.zeros_like(x), []
    for t, g in enumerate(G, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        x = x.copy()
        for s in groups:
            u = r[s] + wd * x[s]
            nx, nu = np.linalg.norm(x[s]), np.linalg.norm(u)
            trust = nx / nu if nx > 0 and nu > 0 else 1.0
            stats["clipped" if trust < 1 else "unclipped"] += 1
            x[s] = x[s] - lr * trust * u
        out.append(x)
    return out


def run(name, lr, h, x0, G):
    stats = {"clipped": 0, "unclipped": 0}
    if name == "acclip":
        traj = acclip(x0.copy(), G, lr, h, stats)
    elif name == "lamb":
        traj = lamb(x0.copy(), G, lr, h, stats)
    else:
        traj = clipping_framework(x0.copy(), G, lr, h, h["nu"] if name == "mixclip" else 1.0, stats)
    return np.array(traj), stats


def main():
    x0, G = make_problem()
    tensors = [("config", torch.tensor([P, S], dtype=torch.int32)),
               ("views", torch.tensor([v for ov in VIEWS for v in ov], dtype=torch.int32)),
               ("x0", torch.from_numpy(x0)), ("grads", torch.from_numpy(G))]
    failed = False
    for name, args in CONFIGS:
        lr, h = parse(name, args)
        traj, stats = run(name, lr, h, x0, G)
        flip = {"acclip": "bias_correction", "lamb": "layerwise"}.get(name, "soft")
        other = dict(h, **{flip: 1 - h[flip]})
        moved = float(np.abs(run(name, lr, other, x0, G)[0] - traj).max())
        # the clip must act somewhere and not everywhere; for the soft factor "clipped" only counts lr ||m|| > gamma;
        # for lamb, "clipped" counts trust ratios below 1 and "not clipped" those of at least 1
        ok = moved > SEPARATION and stats["clipped"] > 0 and stats["unclipped"] > 0 and np.isfinite(traj).all()
        failed |= not ok
        label = f"traj:{name}:{args}"
        print(f"{'ok  ' if ok else 'FAIL'} {label}: {flip}={other[flip]:g} moves it by {moved:.3g}; "
              f"clipped {stats['clipped']}, not clipped {stats['unclipped']}")
        tensors.append((label, torch.from_numpy(traj)))
    if failed:
        sys.exit("make_optim_paper_fixtures: check failed, nothing written")
    write_fixture("optim_paper.bin", tensors)


if __name__ == "__main__":
    main()
