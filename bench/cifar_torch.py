#!/usr/bin/python3
"""PyTorch reference for `make bench`: images/s of the CIFAR ResNets (He et al. 2016, 6n+2 layers).

Same model as nnopt's models/resnet.c (akamaster/pytorch_resnet_cifar10's resnet.py, as in
tests/ref/make_resnet_fixtures.py): conv1/bn1, three stages of n basic blocks with 16/32/64 channels, option-A
(zero-padding) shortcuts, global average pooling, linear; cross-entropy mean over the batch; SGD with momentum 0.9
and weight decay 5e-4 (nnopt's presets). The batch is random normal images and random labels, made once, as
`nnopt bench --model` does (the cost does not depend on the data; the data pipeline is not timed).
Prints one line `torch <model> threads=<K> interop=<K> train_img_s=<f> eval_img_s=<f>` (K=0: torch's default
left alone) and notes on lines starting with "# ".
Usage: /usr/bin/python3 bench/cifar_torch.py --model resnet20 --threads 1 --interop 1
"""
import argparse, time

import torch_threads  # bench/, beside this script

MODELS = {"resnet8": 1, "resnet20": 3, "resnet32": 5}  # n: basic blocks per stage
STEPS = {"resnet8": 12, "resnet20": 5, "resnet32": 3}   # default timed steps: a few seconds on 2 cores

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--model", choices=MODELS, required=True)
ap.add_argument("--batch", type=int, default=128)
torch_threads.add_arguments(ap)
ap.add_argument("--steps", type=int, default=0, help="timed steps (0: 12 resnet8, 5 resnet20, 3 resnet32)")
ap.add_argument("--warmup", type=int, default=2)
args = ap.parse_args()
steps = args.steps or STEPS[args.model]

torch = torch_threads.import_torch(args.threads, args.interop)
nn, F = torch.nn, torch.nn.functional


class PadShortcut(nn.Module):
    """Option A: x[:, :, ::S, ::S] with (planes - in)//2 zero channels before and the rest after."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.front, self.back, self.stride = (planes - in_planes) // 2, planes - in_planes - (planes - in_planes) // 2, stride

    def forward(self, x):
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.front, self.back))


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = PadShortcut(in_planes, planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, n, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes, layers = 16, []
        for s, c in enumerate((16, 32, 64)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(planes, c, 2 if s > 0 and i == 0 else 1))
                planes = c
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, classes)
        for mod in self.modules():  # kaiming_normal_ (fan_in), as nnopt's resnet_init_he
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(mod.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


torch.manual_seed(0)
model = ResNet(MODELS[args.model])
nparams = sum(w.numel() for w in model.parameters())
assert args.model != "resnet20" or nparams == 269722, nparams  # the paper's 0.27M, and nnopt's count
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
N = args.batch
x, y = torch.randn(N, 3, 32, 32), torch.randint(0, 10, (N,))


def run(train):
    """Runs warmup + timed steps; returns (images/s of the timed steps, last loss)."""
    model.train(train)
    with torch.set_grad_enabled(train):
        for i in range(args.warmup + steps):
            if i == args.warmup:
                t0 = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            if train:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        loss = loss.item()
    return N * steps / (time.perf_counter() - t0), loss


train_img_s, train_loss = run(True)
eval_img_s, eval_loss = run(False)
print(f"# torch {torch.__version__}: {args.model}, {nparams} parameters, batch {N}, {args.warmup} warmup + {steps} "
      f"timed steps, intra-op threads {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}, "
      f"mkldnn {torch.backends.mkldnn.is_available()}, "
      f"env {torch_threads.env_text()}, "
      f"last loss train {train_loss:.3f} eval {eval_loss:.3f}")
print(f"torch {args.model} threads={args.threads} interop={args.interop} "
      f"train_img_s={train_img_s:.1f} eval_img_s={eval_img_s:.1f}")
