#!/usr/bin/python3
"""Writes tests/ref/resnet8.bin: one training step and one evaluation of a CIFAR ResNet in PyTorch, which
models/resnet.c must reproduce.

Run from the repository root with Debian's torch (python3-torch 1.13; no PyPI needed):

    /usr/bin/python3 tests/ref/make_resnet_fixtures.py

The output is committed, so `make test` needs no Python. The script is deterministic: running it again rewrites a
byte-identical file. The NNFX writer (with its read-back check) is imported from make_fixtures.py. Everything is
computed in float64 from float32-rounded inputs, so a C mismatch is the C code's own float32 error.

The module is the common CIFAR reference (akamaster/pytorch_resnet_cifar10, resnet.py: the structure and the
parameter names), written out below: conv1/bn1, layer1..3 of BasicBlocks (conv1, bn1, conv2, bn2, shortcut),
global average pooling, linear; option A shortcuts pad (planes-in)//2 zero channels before the subsampled input
and the rest after; option B is shortcut.0 (1x1 conv, stride 2) + shortcut.1 (batchnorm).

Parameters are not stored (ResNet-8 has 75,290): every parameter and running statistic is a deterministic function
of its name that the C test computes bit for bit (a counter-based generator with power-of-two scales, exact in
float32):
    fnv(name) = FNV-1a 64 of the name's bytes; mix(x) = splitmix64's finaliser of x + 0x9E3779B97F4A7C15
    u_i  = ((mix(fnv(name) + i) >> 40) - 2^23) / 2^23      in [-1, 1), 24 bits
    x_i  = float32(offset + scale * u_i)                    (offset, scale) = init.<name>, stored
Two tensors are also stored as they were generated (check.<name>), so a generator mismatch is reported as such.

Tensors (float32 unless int32 is said):
    config int32 [n, width*4, N, H, W, classes, shortcut (0 = A, 1 = B)]     (width as a multiple of 1/4)
    hyper [bn momentum, bn eps]
    images (N,3,H,W)  labels int32 (N)
    init.<name> (2): offset and scale of each parameter and running statistic, by PyTorch name
    check.conv1.weight, check.layer1.0.bn1.weight: two generated tensors
    loss (1)  correct int32 (1)  logits (N,classes)          training forward (batch statistics)
    grad.<name>: the gradient of the mean loss for every parameter, named_parameters() order
    stats.<name>: every running_mean / running_var after the training forward
    eval_logits (N,classes)  eval_loss (1)                 evaluation forward with the updated running statistics
A second, tiny model with option-B shortcuts (n=1, width 1/4, 8x8 input, batch 3) has the same tensors, each name
prefixed with "b." (b.config, b.grad.layer2.0.shortcut.0.weight, ...).

The images are drawn so that no ReLU input of the training forward lies within 1e-5 of zero (make_case says
why); the seed used is printed. Before writing, the script checks: the parameter counts of ResNet-20 (269,722, "0.27M") and ResNet-32 (464,154),
every option-A shortcut against indexing by hand, and for every parameter tensor 4 gradient elements (first, last
and two in between) against central differences in float64 (see fd_sample for the step).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True   # no __pycache__ next to the fixtures
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import Failed, check_close, f32, write_fixture  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

MASK = (1 << 64) - 1
MARGIN = 1e-5     # every ReLU input at least this far from 0 (see make_case)
RELU_INPUTS = []  # filled by relu() while RECORD[0]
RECORD = [False]


def relu(x):
    if RECORD[0]:
        RELU_INPUTS.append(x.detach())
    return F.relu(x)


# ----------------------------------------------------------------------------------------------------------------
# the model

class PadShortcut(nn.Module):
    """Option A: x[:, :, ::S, ::S] with (planes - in)//2 zero channels before and the rest after."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.front, self.back, self.stride = (planes - in_planes) // 2, planes - in_planes - (planes - in_planes) // 2, stride

    def forward(self, x):
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.front, self.back))


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, option):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if option == "A":
                self.shortcut = PadShortcut(in_planes, planes, stride)
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(planes))

    def forward(self, x):
        out = relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, n, width=1.0, classes=10, option="A"):
        super().__init__()
        c = [max(1, int(b * width + 0.5)) for b in (16, 32, 64)]   # as models/resnet.c rounds
        self.conv1 = nn.Conv2d(3, c[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        planes = c[0]
        for s in range(3):
            blocks = []
            for i in range(n):
                stride = 2 if s > 0 and i == 0 else 1
                blocks.append(BasicBlock(planes, c[s], stride, option))
                planes = c[s]
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(c[2], classes)

    def forward(self, x):
        out = relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)   # F.avg_pool2d(out, out.size()[3]) for square inputs
        return self.linear(out)


# ----------------------------------------------------------------------------------------------------------------
# the deterministic parameters

def fnv(name):
    h = 0xCBF29CE484222325
    for byte in name.encode("ascii"):
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def mix(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def generate(name, shape, offset, scale):
    n = 1
    for d in shape:
        n *= d
    seed = fnv(name)
    vals = [offset + scale * (((mix((seed + i) & MASK) >> 40) - (1 << 23)) / (1 << 23)) for i in range(n)]
    return f32(torch.tensor(vals).reshape(shape))


def init_of(name, t):
    """(offset, scale): convolution and linear weights ~ U(-a, a) with a = sqrt(6 / fan_in) (He's variance)
    rounded to a power of two; batchnorm weights and running variances in [0.75, 1.25); biases and running means
    in [-0.25, 0.25)."""
    if t.dim() == 1:
        return (1.0, 0.25) if name.endswith(".weight") or name.endswith("running_var") else (0.0, 0.25)
    fan_in = t[0].numel()
    return 0.0, float(2.0 ** round(torch.log2(torch.sqrt(torch.tensor(6.0 / fan_in))).item()))


def set_parameters(model):
    inits = []
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue   # unused with a fixed momentum; not part of the C model
            off, sc = init_of(name, t)
            t.copy_(generate(name, tuple(t.shape), off, sc))
            inits.append((name, off, sc))
    return inits


def running_stats(model):
    return [(n, b.detach().clone()) for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")]


# ----------------------------------------------------------------------------------------------------------------
# checks

def count(model):
    return sum(p.numel() for p in model.parameters())


def check_shortcuts(model):
    for name, mod in model.named_modules():
        if isinstance(mod, PadShortcut):
            x = torch.randn(2, 3, 5, 7)
            out = mod(x)
            want = torch.zeros(2, 3 + mod.front + mod.back, 3, 4)
            want[:, mod.front:mod.front + 3] = x[:, :, ::2, ::2]
            check_close(f"{name}: option A by hand", out, want)


def fd_sample(what, model, loss_fn, grads):
    """Central differences for 4 elements of every parameter. A step moves every activation downstream, and with
    ~10^5 ReLUs one of them may cross its kink within a step of 1e-6 (seen for conv1.weight, whose gradient is
    ~1e-4): an element passes if the difference agrees at any of the steps 1e-6, 1e-7, 1e-8."""
    worst = 0.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            flat, g = p.data.view(-1), grads[name].reshape(-1)
            n = flat.numel()
            for k in sorted({0, n // 3, (2 * n) // 3, n - 1}):
                v, errs = float(flat[k]), []
                for eps in (1e-6, 1e-7, 1e-8):
                    flat[k] = v + eps
                    lp = float(loss_fn())
                    flat[k] = v - eps
                    lm = float(loss_fn())
                    flat[k] = v
                    num = (lp - lm) / (2 * eps)
                    errs.append(abs(num - float(g[k])))
                    if errs[-1] <= 1e-8 + 1e-6 * abs(num):
                        break
                else:
                    raise Failed(f"{what}: finite differences, {name}[{k}]: autograd {float(g[k]):.10g}, "
                                 f"errors {errs} at steps 1e-6, 1e-7, 1e-8")
                worst = max(worst, errs[-1])
    return worst


# ----------------------------------------------------------------------------------------------------------------

def make_case(prefix, seed, n, width4, N, H, W, option, classes=10):
    """A float32 forward computes ReLU inputs with errors ~1e-7, so one lying closer than that to 0 can switch off
    in C where it is on here, and change the gradient. Images are drawn from seed, seed+1, ... until every ReLU
    input of the training forward is at least MARGIN away from 0."""
    model = ResNet(n, width4 / 4, classes, option)
    inits = set_parameters(model)
    check_shortcuts(model)
    stats0 = running_stats(model)
    for tries in range(200):
        g = torch.Generator().manual_seed(seed + tries)
        images = f32(torch.randn((N, 3, H, W), generator=g))
        labels = torch.randint(0, classes, (N,), generator=g)
        RELU_INPUTS.clear()
        RECORD[0] = True
        with torch.no_grad():
            model.train()
            model(images)
        RECORD[0] = False
        closest = min(float(x.abs().min()) for x in RELU_INPUTS)
        buffers = dict(model.named_buffers())
        with torch.no_grad():   # undo the running statistics' update
            for name, v in stats0:
                buffers[name].copy_(v)
        if closest >= MARGIN:
            break
    else:
        raise Failed(f"{prefix or 'resnet8'}: no images within 200 seeds keep every ReLU input {MARGIN} from 0")
    relus = sum(x.numel() for x in RELU_INPUTS)
    print(f"{prefix or 'resnet8'}: images from seed {seed + tries}: the closest of {relus} ReLU inputs to 0 is "
          f"{closest:.2g}")

    model.train()
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    stats1 = running_stats(model)
    correct = int((logits.argmax(1) == labels).sum())

    def loss_fn():   # training mode: batch statistics; the running statistics it moves are restored below
        return F.cross_entropy(model(images), labels)
    worst = fd_sample(prefix or "resnet8", model, loss_fn, grads)
    buffers = dict(model.named_buffers())
    with torch.no_grad():
        for name, v in stats1:
            buffers[name].copy_(v)

    model.eval()
    with torch.no_grad():
        eval_logits = model(images)
        eval_loss = F.cross_entropy(eval_logits, labels)
    moved = max(float((a - b).abs().max()) for (_, a), (_, b) in zip(stats0, stats1))
    print(f"{prefix or 'resnet8'}: {count(model)} parameters, loss {float(loss):.6f}, eval loss "
          f"{float(eval_loss):.6f}, {correct}/{N} correct; running statistics moved up to {moved:.3g}; "
          f"finite differences max abs error {worst:.2g}")

    p = prefix
    tensors = [(p + "config", torch.tensor([n, width4, N, H, W, classes, 0 if option == "A" else 1],
                                           dtype=torch.int32)),
               (p + "hyper", torch.tensor([0.1, 1e-5])),
               (p + "images", images), (p + "labels", labels.to(torch.int32))]
    tensors += [(p + "init." + name, torch.tensor([off, sc])) for name, off, sc in inits]
    params = dict(model.named_parameters())
    tensors += [(p + "check.conv1.weight", params["conv1.weight"]),
                (p + "check.layer1.0.bn1.weight", params["layer1.0.bn1.weight"])]
    tensors += [(p + "loss", loss.reshape(1)), (p + "correct", torch.tensor([correct], dtype=torch.int32)),
                (p + "logits", logits)]
    tensors += [(p + "grad." + name, grads[name]) for name, _ in model.named_parameters()]
    tensors += [(p + "stats." + name, v) for name, v in stats1]
    tensors += [(p + "eval_logits", eval_logits), (p + "eval_loss", eval_loss.reshape(1))]
    return tensors


def main():
    try:
        for n, want in ((3, 269722), (5, 464154)):
            got = count(ResNet(n))
            if got != want:
                raise Failed(f"ResNet-{6 * n + 2}: {got} parameters, want {want}")
        tensors = make_case("", 8008, n=1, width4=4, N=4, H=32, W=32, option="A")
        tensors += make_case("b.", 8009, n=1, width4=1, N=3, H=8, W=8, option="B")
    except Failed as e:
        sys.exit(f"make_resnet_fixtures: check failed, nothing written: {e}")
    write_fixture("resnet8.bin", tensors)


if __name__ == "__main__":
    main()
