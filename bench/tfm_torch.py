#!/usr/bin/python3
"""PyTorch reference for `make bench`: tokens/s of nnopt's PTB Transformer presets (models/transformer_lm.h).

The same model built from PyTorch modules: token and learned position embeddings, dropout, pre-LayerNorm blocks
(nn.MultiheadAttention with a causal float mask and dropout on its probabilities, out-projection, dropout,
residual; LayerNorm, Linear D->F, tanh-GELU, Linear F->D, dropout, residual), final LayerNorm, the decoder tied to
the token embedding plus a bias, cross-entropy mean over N*T tokens; AdamW with clip_grad_norm_(1). Batch-first
sequences of T tokens, nothing carried between windows.
Prints one line `torch <preset> threads=<K> interop=<K> train_tok_s=<f> eval_tok_s=<f>` (K=0: torch's default
left alone) and notes on lines starting with "# ".
Usage: /usr/bin/python3 bench/tfm_torch.py --preset tfm-small --threads 2 --interop 1
"""
import argparse, time

import torch_threads  # bench/, beside this script

PRESETS = {  # D, heads, blocks, MLP width, T (context), N (batch), dropout, attention dropout, timed steps
    "tfm-small": dict(D=256, H=4, L=3, F=1024, T=64, N=32, p=0.3, pa=0.1, steps=10),
}
V = 10000

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--preset", choices=PRESETS, required=True)
torch_threads.add_arguments(ap)
ap.add_argument("--steps", type=int, default=0, help="timed steps (0: the preset's)")
ap.add_argument("--warmup", type=int, default=3)
args = ap.parse_args()
P = PRESETS[args.preset]
steps = args.steps or P["steps"]

torch = torch_threads.import_torch(args.threads, args.interop)
nn, F = torch.nn, torch.nn.functional


class Block(nn.Module):
    def __init__(self, D, H, F_, p, pa):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, H, dropout=pa, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(D, F_), nn.Linear(F_, D)
        self.drop = nn.Dropout(p)

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, h, attn_mask=mask, need_weights=False)[0])
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh")))


class LM(nn.Module):
    def __init__(self, D, H, L, F_, T, p, pa):
        super().__init__()
        self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(T, D)
        self.drop = nn.Dropout(p)
        self.blocks = nn.ModuleList(Block(D, H, F_, p, pa) for _ in range(L))
        self.ln_f = nn.LayerNorm(D)
        self.dec_bias = nn.Parameter(torch.zeros(V))
        self.register_buffer("mask", torch.triu(torch.full((T, T), float("-inf")), diagonal=1))

    def forward(self, x):  # x: N x T ids -> logits (N*T) x V
        T = x.shape[1]
        h = self.drop(self.tok(x) + self.pos.weight[:T])
        for b in self.blocks:
            h = b(h, self.mask[:T, :T])
        return F.linear(self.ln_f(h), self.tok.weight, self.dec_bias).view(-1, V)


D, H, L, F_, T, N = P["D"], P["H"], P["L"], P["F"], P["T"], P["N"]
torch.manual_seed(0)
model = LM(D, H, L, F_, T, P["p"], P["pa"])
with torch.no_grad():  # nnopt's initialisation (GPT-2's), so the losses printed are alike; speed does not care
    for name, w in model.named_parameters():
        if w.dim() == 2:
            w.normal_(0, 0.02 / (2 * L) ** 0.5 if name.endswith(("out_proj.weight", "fc2.weight")) else 0.02)
nparams = sum(w.numel() for w in model.parameters())
# the count nnopt prints: embeddings, per block two LayerNorms (4D), QKV (3D^2 + 3D), out (D^2 + D), the MLP
# (2FD + F + D), the final LayerNorm and the decoder's bias
assert nparams == V * D + T * D + L * (4 * D + 4 * D * D + 4 * D + 2 * F_ * D + F_ + D) + 2 * D + V, nparams
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.1)
nwin = args.warmup + steps
gen = torch.Generator().manual_seed(0)
data = torch.randint(0, V, (nwin, N, T + 1), generator=gen)  # the speed does not depend on the ids


def run(train):
    """Runs warmup + timed windows; returns (tokens/s of the timed windows, last loss)."""
    model.train(train)
    with torch.set_grad_enabled(train):
        for i in range(nwin):
            if i == args.warmup:
                t0 = time.perf_counter()
            x, y = data[i, :, :T], data[i, :, 1:]
            loss = F.cross_entropy(model(x), y.reshape(-1))
            if train:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
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
