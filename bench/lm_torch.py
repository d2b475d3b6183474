#!/usr/bin/python3
"""PyTorch reference for `make bench`: tokens/s of the Zaremba et al. (2014) PTB LSTM LM.

Same model as nnopt's (and PyTorch's word_language_model example): embedding V x H, dropout, nn.LSTM(H, H, 2)
with dropout between layers, dropout, linear decoder H -> V, cross-entropy mean over T*N tokens, SGD with
clip_grad_norm_, truncated BPTT with the hidden state carried across windows and detached.
Prints one line `torch <preset> threads=<K> interop=<K> train_tok_s=<f> eval_tok_s=<f>` (K=0: torch's
default left alone) and notes on lines starting with "# ".
Usage: /usr/bin/python3 bench/lm_torch.py --preset zaremba-small --threads 1 --interop 1
"""
import argparse, gzip, os, time

import torch_threads  # bench/, beside this script

PRESETS = {  # H, layers, T (bptt), N (batch), dropout, init range, lr, clip, default timed steps
    "zaremba-small": dict(H=200, L=2, T=20, N=20, p=0.0, init=0.1, lr=20.0, clip=0.25, steps=30),
    "zaremba-medium": dict(H=650, L=2, T=35, N=20, p=0.5, init=0.05, lr=35.0, clip=5 / 35, steps=10),
}
V = 10000

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--preset", choices=PRESETS, required=True)
torch_threads.add_arguments(ap)
ap.add_argument("--steps", type=int, default=0, help="timed steps (0: 30 small, 10 medium)")
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--data", help="directory holding ptb/ptb.train.txt.gz (default: $NNOPT_DATA, ./data, ../shared/data)")
args = ap.parse_args()
P = PRESETS[args.preset]
steps = args.steps or P["steps"]

torch = torch_threads.import_torch(args.threads, args.interop)
nn, F = torch.nn, torch.nn.functional


def load_tokens(need):
    """The first `need` token ids of PTB train if found, else random ids. Ids number words in order of first
    appearance, so reading only a prefix gives the ids of the whole-file vocabulary."""
    dirs = [args.data] if args.data else [os.environ.get("NNOPT_DATA"), "data", "../shared/data"]
    for d in filter(None, dirs):
        path = os.path.join(d, "ptb", "ptb.train.txt.gz")
        if os.path.exists(path):
            vocab, ids = {}, []
            with gzip.open(path, "rt") as f:
                for line in f:
                    ids += [vocab.setdefault(w, len(vocab)) for w in line.split() + ["<eos>"]]
                    if len(ids) >= need:
                        break
            assert len(ids) >= need and len(vocab) <= V, f"{path}: not PTB"
            print(f"# data: the first {need} token ids of {path}")
            return torch.tensor(ids[:need])
    print("# data: random token ids in [0,V) (seed 0): PTB not found; speed does not depend on the data")
    return torch.randint(0, V, (need,), generator=torch.Generator().manual_seed(0))


class LM(nn.Module):
    def __init__(self, H, L, p):
        super().__init__()
        self.emb, self.drop = nn.Embedding(V, H), nn.Dropout(p)
        self.lstm = nn.LSTM(H, H, num_layers=L, dropout=p)  # dropout between layers only
        self.dec = nn.Linear(H, V)

    def forward(self, x, h):  # x: T x N ids -> logits (T*N) x V
        y, h = self.lstm(self.drop(self.emb(x)), h)
        return self.dec(self.drop(y)).view(-1, V), h


T, N, H, L = P["T"], P["N"], P["H"], P["L"]
torch.manual_seed(0)
model = LM(H, L, P["p"])
for w in model.parameters():
    nn.init.uniform_(w, -P["init"], P["init"])
nparams = sum(w.numel() for w in model.parameters())
assert nparams == V * H + L * (8 * H * H + 8 * H) + H * V + V
opt = torch.optim.SGD(model.parameters(), lr=P["lr"])

nwin = args.warmup + steps
data = load_tokens(nwin * T * N + N).view(N, -1).t().contiguous()  # (nwin*T+1) x N parallel streams


def run(train):
    """Runs warmup + timed windows; returns (tokens/s of the timed windows, last loss)."""
    model.train(train)
    h = tuple(torch.zeros(L, N, H) for _ in range(2))
    with torch.set_grad_enabled(train):
        for i in range(nwin):
            if i == args.warmup:
                t0 = time.perf_counter()
            x, y = data[i * T:(i + 1) * T], data[i * T + 1:(i + 1) * T + 1]
            h = tuple(s.detach() for s in h)  # truncated BPTT
            out, h = model(x, h)
            loss = F.cross_entropy(out, y.reshape(-1))
            if train:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), P["clip"])
                opt.step()
        loss = loss.item()
    return T * N * steps / (time.perf_counter() - t0), loss


train_tok_s, train_loss = run(True)
eval_tok_s, eval_loss = run(False)
print(f"# torch {torch.__version__}: {nparams} parameters, T={T} N={N}, {args.warmup} warmup + {steps} timed steps, "
      f"intra-op threads {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}, "
      f"env {torch_threads.env_text()}, "
      f"last loss train {train_loss:.3f} eval {eval_loss:.3f}")
print(f"torch {args.preset} threads={args.threads} interop={args.interop} "
      f"train_tok_s={train_tok_s:.1f} eval_tok_s={eval_tok_s:.1f}")
