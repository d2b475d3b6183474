#!/usr/bin/python3
"""Writes tests/ref/conv.bin: PyTorch references for the convolutional layers (nn/conv2d, nn/batchnorm, nn/pool,
nn/residual), forward outputs and gradients.

Run from the repository root with Debian's torch (python3-torch 1.13; no PyPI needed):

    /usr/bin/python3 tests/ref/make_conv_fixtures.py

The output is committed, so `make test` needs no Python. The script is deterministic (fixed seeds): running it again
rewrites a byte-identical file. As in make_fixtures.py (whose NNFX writer, with its read-back check, this script
imports), inputs are rounded to float32 first and everything is then computed in float64, so a C mismatch is the C
code's own float32 error.

Before writing anything the script checks itself, and writes nothing if a check fails:
  - every torch op against a transcription by hand (convolution as explicit sums over the kernel, batch norm from
    its formula, pooling window by window, the option-A shortcut by indexing);
  - every gradient element against a central finite difference in float64;
  - max pooling: each window's maximum beats the runner-up by far more than the finite-difference step.

Every case uses the loss L = sum(out * dout) with a random dout, so d_<x> = dL/d<x>. Tensors, per case <c>
(float32 unless int32 is said; NCHW, PyTorch's layouts):

conv_s2 (stride 2, padding 1, 3x3, bias; odd 7x7 input), conv_s1 (stride 1, padding 1, non-square 3x2 kernel,
non-square 5x6 input, no bias), conv_1x1 (1x1, stride 2, no padding, no bias: the projection shortcut):
    <c>.config int32 [N, C, H, W, OC, KH, KW, stride, pad, has_bias]
    <c>.x (N,C,H,W)  <c>.weight (OC,C,KH,KW)  <c>.bias (OC) when has_bias  <c>.out (N,OC,OH,OW)  <c>.dout
    <c>.d_x  <c>.d_weight  <c>.d_bias when has_bias
bn_train (nn.BatchNorm2d in training mode; the input has a per-channel offset and scale):
    bn_train.config int32 [N, C, H, W];  bn_train.hyper [momentum, eps]
    bn_train.x  bn_train.weight (C)  bn_train.bias (C)  bn_train.running_mean (C)  bn_train.running_var (C)  (before)
    bn_train.out  bn_train.dout  bn_train.d_x  bn_train.d_weight  bn_train.d_bias
    bn_train.new_running_mean  bn_train.new_running_var   (after the step: the unbiased batch variance enters)
bn_eval (the same module in eval mode, running statistics given):
    bn_eval.config int32 [N, C, H, W];  bn_eval.hyper [momentum, eps]
    bn_eval.x  bn_eval.weight  bn_eval.bias  bn_eval.running_mean  bn_eval.running_var  bn_eval.out
maxpool_k2s2, maxpool_k3s2 (overlapping windows), avgpool_k2s2, avgpool_k3s2 (F.max_pool2d / F.avg_pool2d,
no padding, floor mode; 7x7 input, so the last row and column are dropped by k2s2):
    <c>.config int32 [N, C, H, W, K, S];  <c>.x  <c>.out  <c>.dout  <c>.d_x
gap (global average pooling, F.adaptive_avg_pool2d(x, 1) flattened to (N,C)):
    gap.config int32 [N, C, H, W];  gap.x  gap.out (N,C)  gap.dout (N,C)  gap.d_x
shortcut_a (option A: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, (OC-C)//2, OC-C-(OC-C)//2)); odd 7x5 input):
    shortcut_a.config int32 [N, C, H, W, OC, S];  shortcut_a.x  shortcut_a.out  shortcut_a.dout  shortcut_a.d_x
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True   # no __pycache__ next to the fixtures
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import Failed, check_close, f32, fd_check, write_fixture  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

SEED = 7007


def randn(shape, g, scale=1.0, shift=0.0):
    return f32(scale * torch.randn(shape, generator=g) + shift)


def i32(*vals):
    return torch.tensor(list(vals), dtype=torch.int32)


# ----------------------------------------------------------------------------------------------------------------
# convolution

def conv_by_hand(x, w, b, stride, pad):
    """out[n,o,i,j] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] xpad[n,c,i*S+kh,j*S+kw], one kernel offset at a time."""
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    OH, OW = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
    out = torch.zeros(N, OC, OH, OW)
    for kh in range(KH):
        for kw in range(KW):
            patch = xp[:, :, kh:kh + stride * (OH - 1) + 1:stride, kw:kw + stride * (OW - 1) + 1:stride]
            out += torch.einsum("nchw,oc->nohw", patch, w[:, :, kh, kw])
    if b is not None:
        out += b.view(1, -1, 1, 1)
    return out


def make_conv(name, g, N, C, H, W, OC, KH, KW, stride, pad, bias):
    x = randn((N, C, H, W), g).requires_grad_()
    w = randn((OC, C, KH, KW), g, scale=0.5).requires_grad_()
    b = randn((OC,), g).requires_grad_() if bias else None
    fwd = lambda: F.conv2d(x, w, b, stride=stride, padding=pad)
    out = fwd()
    dout = randn(out.shape, g)
    (out * dout).sum().backward()
    check_close(f"{name}: F.conv2d vs sums by hand", out, conv_by_hand(x, w, b, stride, pad))
    loss = lambda: (fwd() * dout).sum()
    leaves = [("x", x), ("weight", w)] + ([("bias", b)] if bias else [])
    worst = max(fd_check(f"{name} d_{n}", loss, t, t.grad) for n, t in leaves)
    print(f"{name}: checks passed (out {tuple(out.shape)}; finite differences max abs error {worst:.2g})")
    tensors = [(f"{name}.config", i32(N, C, H, W, OC, KH, KW, stride, pad, int(bias)))]
    tensors += [(f"{name}.{n}", t) for n, t in leaves]
    tensors += [(f"{name}.out", out), (f"{name}.dout", dout)]
    tensors += [(f"{name}.d_{n}", t.grad) for n, t in leaves]
    return tensors


# ----------------------------------------------------------------------------------------------------------------
# batch normalisation

def make_batchnorm(g, N=3, C=4, H=3, W=5, momentum=0.1, eps=1e-5):
    offset, scale = randn((1, C, 1, 1), g, scale=2.0), f32(torch.rand((1, C, 1, 1), generator=g) * 2 + 0.5)
    x = f32(torch.randn((N, C, H, W), generator=g) * scale + offset).requires_grad_()
    bn = nn.BatchNorm2d(C, momentum=momentum, eps=eps)
    with torch.no_grad():
        bn.weight.copy_(f32(1 + 0.5 * torch.randn(C, generator=g)))
        bn.bias.copy_(randn((C,), g, scale=0.5))
        bn.running_mean.copy_(randn((C,), g, scale=0.5))
        bn.running_var.copy_(f32(torch.rand(C, generator=g) + 0.5))
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    hyper = torch.tensor([momentum, eps])

    # training mode
    bn.train()
    out = bn(x)
    dout = randn(out.shape, g)
    (out * dout).sum().backward()
    new_rm, new_rv = bn.running_mean.clone(), bn.running_var.clone()
    M = N * H * W
    mu = x.detach().mean((0, 2, 3))
    var = ((x.detach() - mu.view(1, -1, 1, 1)) ** 2).mean((0, 2, 3))
    hand = (x.detach() - mu.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + eps)
    hand = hand * bn.weight.detach().view(1, -1, 1, 1) + bn.bias.detach().view(1, -1, 1, 1)
    check_close("bn_train: nn.BatchNorm2d vs the formula", out, hand)
    check_close("bn_train: running mean", new_rm, (1 - momentum) * rm0 + momentum * mu)
    check_close("bn_train: running var (unbiased batch variance)", new_rv,
                (1 - momentum) * rv0 + momentum * var * M / (M - 1))
    grads = {"x": x.grad.clone(), "weight": bn.weight.grad.clone(), "bias": bn.bias.grad.clone()}
    loss = lambda: (bn(x) * dout).sum()   # training mode: batch statistics (the running ones change, unused)
    worst = max(fd_check(f"bn_train d_{n}", loss, t, grads[n])
                for n, t in (("x", x), ("weight", bn.weight), ("bias", bn.bias)))
    train = [("bn_train.config", i32(N, C, H, W)), ("bn_train.hyper", hyper), ("bn_train.x", x),
             ("bn_train.weight", bn.weight), ("bn_train.bias", bn.bias), ("bn_train.running_mean", rm0),
             ("bn_train.running_var", rv0), ("bn_train.out", out), ("bn_train.dout", dout)]
    train += [(f"bn_train.d_{n}", t) for n, t in grads.items()]
    train += [("bn_train.new_running_mean", new_rm), ("bn_train.new_running_var", new_rv)]

    # eval mode, from the original running statistics and a new input
    with torch.no_grad():
        bn.running_mean.copy_(rm0)
        bn.running_var.copy_(rv0)
    bn.eval()
    xe = f32(torch.randn((N, C, H, W), generator=g) * scale + offset)
    oute = bn(xe)
    hande = (xe - rm0.view(1, -1, 1, 1)) / torch.sqrt(rv0.view(1, -1, 1, 1) + eps)
    hande = hande * bn.weight.detach().view(1, -1, 1, 1) + bn.bias.detach().view(1, -1, 1, 1)
    check_close("bn_eval: nn.BatchNorm2d vs the formula", oute, hande)
    check_close("bn_eval: running statistics unchanged", bn.running_var, rv0, rtol=0, atol=0)
    print(f"bn: checks passed (finite differences max abs error {worst:.2g})")
    ev = [("bn_eval.config", i32(N, C, H, W)), ("bn_eval.hyper", hyper), ("bn_eval.x", xe),
          ("bn_eval.weight", bn.weight), ("bn_eval.bias", bn.bias), ("bn_eval.running_mean", rm0),
          ("bn_eval.running_var", rv0), ("bn_eval.out", oute)]
    return train + ev


# ----------------------------------------------------------------------------------------------------------------
# pooling and the option-A shortcut

def pool_by_hand(x, K, S, reduce):
    N, C, H, W = x.shape
    OH, OW = (H - K) // S + 1, (W - K) // S + 1
    out = torch.empty(N, C, OH, OW)
    for i in range(OH):
        for j in range(OW):
            win = x[:, :, i * S:i * S + K, j * S:j * S + K].reshape(N, C, -1)
            out[:, :, i, j] = win.max(-1).values if reduce == "max" else win.mean(-1)
    return out


def make_pool(name, g, kind, K, S, N=2, C=3, H=7, W=7):
    x = randn((N, C, H, W), g).requires_grad_()
    fwd = (lambda: F.max_pool2d(x, K, S)) if kind == "max" else (lambda: F.avg_pool2d(x, K, S))
    out = fwd()
    dout = randn(out.shape, g)
    (out * dout).sum().backward()
    check_close(f"{name}: torch vs window by window", out, pool_by_hand(x.detach(), K, S, kind))
    if kind == "max":   # a finite difference must not change which element is the maximum
        N_, C_, OH, OW = out.shape
        for i in range(OH):
            for j in range(OW):
                win = x.detach()[:, :, i * S:i * S + K, j * S:j * S + K].reshape(N, C, -1)
                top2 = win.topk(2, dim=-1).values
                if float((top2[..., 0] - top2[..., 1]).min()) < 1e-4:
                    raise Failed(f"{name}: a window's two largest values are too close")
    worst = fd_check(f"{name} d_x", lambda: (fwd() * dout).sum(), x, x.grad)
    print(f"{name}: checks passed (out {tuple(out.shape)}; finite differences max abs error {worst:.2g})")
    return [(f"{name}.config", i32(N, C, H, W, K, S)), (f"{name}.x", x), (f"{name}.out", out),
            (f"{name}.dout", dout), (f"{name}.d_x", x.grad)]


def make_gap(g, N=3, C=5, H=4, W=3):
    x = randn((N, C, H, W), g).requires_grad_()
    fwd = lambda: F.adaptive_avg_pool2d(x, 1).flatten(1)
    out = fwd()
    dout = randn(out.shape, g)
    (out * dout).sum().backward()
    check_close("gap: adaptive_avg_pool2d vs mean", out, x.detach().mean((2, 3)))
    worst = fd_check("gap d_x", lambda: (fwd() * dout).sum(), x, x.grad)
    print(f"gap: checks passed (finite differences max abs error {worst:.2g})")
    return [("gap.config", i32(N, C, H, W)), ("gap.x", x), ("gap.out", out), ("gap.dout", dout), ("gap.d_x", x.grad)]


def make_shortcut(g, N=2, C=3, H=7, W=5, OC=8, S=2):
    x = randn((N, C, H, W), g).requires_grad_()
    front = (OC - C) // 2
    fwd = lambda: F.pad(x[:, :, ::S, ::S], (0, 0, 0, 0, front, OC - C - front))
    out = fwd()
    dout = randn(out.shape, g)
    (out * dout).sum().backward()
    hand = torch.zeros(N, OC, (H + S - 1) // S, (W + S - 1) // S)
    for c in range(C):
        for i in range(hand.shape[2]):
            for j in range(hand.shape[3]):
                hand[:, front + c, i, j] = x.detach()[:, c, i * S, j * S]
    check_close("shortcut_a: F.pad of the subsampled input vs indexing", out, hand)
    worst = fd_check("shortcut_a d_x", lambda: (fwd() * dout).sum(), x, x.grad)
    print(f"shortcut_a: checks passed (out {tuple(out.shape)}; finite differences max abs error {worst:.2g})")
    return [("shortcut_a.config", i32(N, C, H, W, OC, S)), ("shortcut_a.x", x), ("shortcut_a.out", out),
            ("shortcut_a.dout", dout), ("shortcut_a.d_x", x.grad)]


def main():
    g = torch.Generator().manual_seed(SEED)
    try:
        tensors = make_conv("conv_s2", g, N=2, C=3, H=7, W=7, OC=4, KH=3, KW=3, stride=2, pad=1, bias=True)
        tensors += make_conv("conv_s1", g, N=2, C=3, H=5, W=6, OC=5, KH=3, KW=2, stride=1, pad=1, bias=False)
        tensors += make_conv("conv_1x1", g, N=2, C=4, H=6, W=5, OC=6, KH=1, KW=1, stride=2, pad=0, bias=False)
        tensors += make_batchnorm(g)
        tensors += make_pool("maxpool_k2s2", g, "max", 2, 2)
        tensors += make_pool("maxpool_k3s2", g, "max", 3, 2)
        tensors += make_pool("avgpool_k2s2", g, "avg", 2, 2)
        tensors += make_pool("avgpool_k3s2", g, "avg", 3, 2)
        tensors += make_gap(g)
        tensors += make_shortcut(g)
    except Failed as e:
        sys.exit(f"make_conv_fixtures: check failed, nothing written: {e}")
    write_fixture("conv.bin", tensors)


if __name__ == "__main__":
    main()
