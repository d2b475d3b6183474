#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that the C LSTM and LSTM language model must match.

Run from the repository root with Debian's torch (python3-torch 1.13; no PyPI needed):

    /usr/bin/python3 tests/ref/make_fixtures.py

The outputs are committed, so `make test` needs no Python. The script is deterministic (fixed seeds, explicit
generators): running it again rewrites byte-identical files. Every value is computed in float64 and stored as
float32; the inputs and parameters are rounded to float32 *before* the float64 computation, so the stored outputs
are the float64 results for exactly the stored float32 inputs, and a C mismatch is the C code's own float32 error.

Before writing anything the script checks itself, and writes nothing if a check fails:
  - the LSTM equations written out by hand (gate order i, f, g, o) reproduce torch.nn.LSTM;
  - every gradient element, for every fixture, against a central finite difference in float64;
  - the language model built from two single-layer LSTMs with all-ones masks equals nn.LSTM(num_layers=2) on the
    same weights (outputs, final states and gradients);
  - the tied model's gradient equals the sum of the untied model's encoder and decoder gradients;
  - each written file reads back to the same values.

File format (little-endian; read by tests/fixture.c):
    "NNFX", uint32 version = 1, uint32 count, then per tensor:
    uint32 name_len, name bytes (no NUL), uint32 dtype (0 float32, 1 int32), uint32 ndim, int32 dims[ndim], data.
    A scalar is ndim 1, dims [1].

Files (shapes row-major, last index contiguous, PyTorch's order, sequence-first (T, N, ...)):

tests/ref/lstm.bin -- one single-layer torch.nn.LSTM, IN=5 H=4 T=4 N=3, weights U(-0.5, 0.5).
    config int32 [IN, H, T, N]
    x (T,N,IN)  h0 (N,H)  c0 (N,H)           h0/c0: state carried from a previous window (no gradient into them)
    weight_ih (4H,IN)  weight_hh (4H,H)  bias_ih (4H)  bias_hh (4H)   rows in PyTorch's gate order i, f, g, o
    y (T,N,H)  hT (N,H)  cT (N,H)
    dy (T,N,H)                               upstream gradient; the loss is L = sum(y * dy)
    d_x (T,N,IN)  d_weight_ih  d_weight_hh  d_bias_ih  d_bias_hh    dL/d(each), shapes as their tensors

tests/ref/lm.bin -- the word-level LSTM LM of PyTorch's examples/word_language_model (encoder -> dropout ->
    2-layer LSTM with dropout between the layers -> dropout -> decoder), with explicit dropout masks.
    V=23 E=H=6 L=2 T=5 N=3, every parameter U(-0.5, 0.5).
    config int32 [V, E, H, L, T, N]
    tokens int32 (T,N)  targets int32 (T,N)  h0 (L,N,H)  c0 (L,N,H)
    encoder.weight (V,E)
    rnn.weight_ih_l0 (4H,E)  rnn.weight_hh_l0 (4H,H)  rnn.bias_ih_l0 (4H)  rnn.bias_hh_l0 (4H)
    rnn.weight_ih_l1 (4H,H)  rnn.weight_hh_l1 (4H,H)  rnn.bias_ih_l1 (4H)  rnn.bias_hh_l1 (4H)
    decoder.weight (V,H)  decoder.bias (V)
    mask_emb (T,N,E)  mask_l0 (T,N,H)  mask_l1 (T,N,H)   already scaled: 0 or 1/(1-p) (as float32), p = 0.4
    loss (1)  hT (L,N,H)  cT (L,N,H)
    grad.<param name> for every parameter above, same shape (e.g. grad.rnn.weight_hh_l1)
  The forward pass:
    e   = encoder.weight[tokens] * mask_emb                      (T,N,E)
    y0  = LSTM_l0(e, h0[0], c0[0]) * mask_l0                     (T,N,H)  layer 1's input
    y1  = LSTM_l1(y0, h0[1], c0[1]) * mask_l1                    (T,N,H)
    logits = y1.reshape(T*N, H) @ decoder.weight^T + decoder.bias   (T*N, V), rows in (T,N) order
    loss = mean over the T*N rows of cross_entropy(logits, targets.reshape(T*N))
  hT/cT are each layer's state after the last step, before any mask (the masks touch only the non-recurrent
  connections, Zaremba et al. 2014).

tests/ref/lm_tied.bin -- the same with tied weights (decoder.weight is encoder.weight; needs E == H). There is no
    decoder.weight / grad.decoder.weight; grad.encoder.weight is the total gradient of the shared matrix
    (embedding rows + decoder). Different seed.

tests/ref/lm_nodrop.bin -- as lm.bin with all three masks equal to 1 (still written), different seed.
"""
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)  # deterministic reductions

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
MAGIC, VERSION = b"NNFX", 1
DT_F32, DT_I32 = 0, 1
INIT = 0.5        # every weight ~ U(-INIT, INIT): the gates are not saturated and the logits not uniform
P_DROP = 0.4


# ----------------------------------------------------------------------------------------------------------------
# helpers

def f32(t):
    """Rounds to float32 and back, so the float64 reference sees exactly the values that are stored."""
    return t.detach().float().double()


def uniform(shape, g, lo=-INIT, hi=INIT):
    return f32(torch.empty(shape).uniform_(lo, hi, generator=g))


def randn(shape, g, scale=1.0):
    return f32(scale * torch.randn(shape, generator=g))


class Failed(Exception):
    pass


def check_close(what, got, want, rtol=1e-9, atol=1e-12):
    got, want = got.detach().double(), want.detach().double()
    if got.shape != want.shape:
        raise Failed(f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}")
    err = (got - want).abs()
    bad = err > atol + rtol * want.abs()
    if bad.any() or not torch.isfinite(got).all():
        raise Failed(f"{what}: {int(bad.sum())} of {got.numel()} differ, max abs {float(err.max()):.3g}")


def fd_check(what, loss_fn, tensor, grad, eps=1e-6, rtol=1e-6, atol=1e-8):
    """Central differences of loss_fn() for every element of `tensor` (a float64 leaf, perturbed in place)."""
    flat = tensor.data.view(-1)
    num = torch.empty(flat.numel())
    with torch.no_grad():
        for k in range(flat.numel()):
            v = float(flat[k])
            flat[k] = v + eps
            lp = float(loss_fn())
            flat[k] = v - eps
            lm = float(loss_fn())
            flat[k] = v
            num[k] = (lp - lm) / (2 * eps)
    err = (num - grad.detach().reshape(-1)).abs()
    tol = atol + rtol * num.abs()
    if (err > tol).any():
        k = int((err - tol).argmax())
        raise Failed(f"finite differences, {what}: element {k} autograd {float(grad.reshape(-1)[k]):.10g} "
                     f"numeric {float(num[k]):.10g}")
    return float(err.max())


# ----------------------------------------------------------------------------------------------------------------
# writing and reading the NNFX format

def encode(tensors):
    out = [MAGIC, struct.pack("<II", VERSION, len(tensors))]
    names = set()
    for name, t in tensors:
        assert name not in names, f"duplicate tensor name {name}"
        names.add(name)
        nb = name.encode("ascii")
        assert 0 < len(nb) < 64, name  # the C reader keeps names in char[64]
        t = t.detach()
        if t.dim() == 0:
            t = t.reshape(1)
        assert 1 <= t.dim() <= 4, (name, t.shape)
        if t.dtype in (torch.int32, torch.int64):
            dtype, fmt, vals = DT_I32, "i", [int(v) for v in t.reshape(-1).tolist()]
        else:
            dtype, fmt, vals = DT_F32, "f", t.reshape(-1).float().tolist()
        out.append(struct.pack("<I", len(nb)) + nb)
        out.append(struct.pack(f"<II{t.dim()}i", dtype, t.dim(), *t.shape))
        out.append(struct.pack(f"<{len(vals)}{fmt}", *vals))
    return b"".join(out)


def decode(blob):
    """Independent reader, used to check each file after writing it."""
    assert blob[:4] == MAGIC
    version, count = struct.unpack_from("<II", blob, 4)
    assert version == VERSION
    pos, res = 12, {}
    for _ in range(count):
        (nlen,) = struct.unpack_from("<I", blob, pos); pos += 4
        name = blob[pos:pos + nlen].decode("ascii"); pos += nlen
        dtype, ndim = struct.unpack_from("<II", blob, pos); pos += 8
        dims = struct.unpack_from(f"<{ndim}i", blob, pos); pos += 4 * ndim
        n = 1
        for d in dims:
            n *= d
        vals = struct.unpack_from(f"<{n}{'f' if dtype == DT_F32 else 'i'}", blob, pos); pos += 4 * n
        res[name] = torch.tensor(vals, dtype=torch.float64 if dtype == DT_F32 else torch.int64).reshape(dims)
    assert pos == len(blob), "trailing bytes"
    return res


def write_fixture(fname, tensors):
    blob = encode(tensors)
    back = decode(blob)
    for name, t in tensors:
        t = t.detach().reshape(back[name].shape)
        if back[name].dtype == torch.int64:
            assert torch.equal(back[name], t.long()), name
        else:
            check_close(f"{fname} read back {name}", back[name], t.float().double(), rtol=0, atol=0)
    path = os.path.join(OUT_DIR, fname)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
    print(f"wrote {os.path.relpath(path)}: {len(tensors)} tensors, {len(blob)} bytes")


# ----------------------------------------------------------------------------------------------------------------
# (a) one LSTM layer

def lstm_by_hand(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """The LSTM equations written out, PyTorch's gate order i, f, g, o (rows of the weights in 4 blocks of H)."""
    H = h.shape[1]
    ys = []
    for t in range(x.shape[0]):
        z = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh          # (N, 4H)
        i = torch.sigmoid(z[:, 0 * H:1 * H])
        f = torch.sigmoid(z[:, 1 * H:2 * H])
        g = torch.tanh(z[:, 2 * H:3 * H])
        o = torch.sigmoid(z[:, 3 * H:4 * H])
        c = f * c + i * g
        h = o * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys), h, c


def make_lstm(seed=1001, IN=5, H=4, T=4, N=3):
    g = torch.Generator().manual_seed(seed)
    lstm = nn.LSTM(IN, H, num_layers=1)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            p = getattr(lstm, name)
            p.copy_(uniform(p.shape, g))
    x = randn((T, N, IN), g).requires_grad_()
    h0 = uniform((N, H), g, -0.9, 0.9)   # a previous window's h = o * tanh(c) lies in (-1, 1)
    c0 = randn((N, H), g)
    dy = randn((T, N, H), g)

    def forward():
        return lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)))

    y, (hT, cT) = forward()
    loss = (y * dy).sum()
    loss.backward()

    W = {n: getattr(lstm, n + "_l0") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    yh, hh, ch = lstm_by_hand(x, h0, c0, W["weight_ih"], W["weight_hh"], W["bias_ih"], W["bias_hh"])
    check_close("lstm: hand-written equations vs nn.LSTM, y", yh, y)
    check_close("lstm: hand-written equations vs nn.LSTM, cT", ch, cT[0])
    check_close("lstm: hand-written equations vs nn.LSTM, hT", hh, hT[0])

    loss_fn = lambda: (forward()[0] * dy).sum()
    worst = fd_check("lstm d_x", loss_fn, x, x.grad)
    for n, p in W.items():
        worst = max(worst, fd_check(f"lstm d_{n}", loss_fn, p, p.grad))
    # gates neither saturated nor trivial: the fixture exercises every derivative
    z = x.detach()[0] @ W["weight_ih"].detach().T + W["bias_ih"].detach()
    assert float(z.abs().max()) < 4, "pre-activations too large: gates saturated"
    print(f"lstm: checks passed (finite differences: max abs error {worst:.2g})")

    tensors = [("config", torch.tensor([IN, H, T, N], dtype=torch.int32)),
               ("x", x), ("h0", h0), ("c0", c0)]
    tensors += [(n, p) for n, p in W.items()]
    tensors += [("y", y), ("hT", hT[0]), ("cT", cT[0]), ("dy", dy), ("d_x", x.grad)]
    tensors += [("d_" + n, p.grad) for n, p in W.items()]
    return "lstm.bin", tensors


# ----------------------------------------------------------------------------------------------------------------
# (b), (c), (d) the word-level language model

LSTM_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class LM(nn.Module):
    """PyTorch's word_language_model RNNModel (LSTM), with the two layers run as separate single-layer LSTMs so
    the dropout masks sit exactly on the non-recurrent connections: after the embedding, between the layers,
    before the decoder."""

    def __init__(self, V, E, H, L, tied):
        super().__init__()
        self.V, self.E, self.H, self.L, self.tied = V, E, H, L, tied
        self.encoder = nn.Embedding(V, E)
        self.layers = nn.ModuleList([nn.LSTM(E if l == 0 else H, H, num_layers=1) for l in range(L)])
        self.decoder = nn.Linear(H, V)
        if tied:
            assert E == H, "tied weights need E == H"
            self.decoder.weight = self.encoder.weight

    def named(self):
        """The parameters under word_language_model's names, each shared matrix once (as named_parameters())."""
        out = [("encoder.weight", self.encoder.weight)]
        for l, lstm in enumerate(self.layers):
            out += [(f"rnn.{n}_l{l}", getattr(lstm, f"{n}_l0")) for n in LSTM_PARAMS]
        if not self.tied:
            out.append(("decoder.weight", self.decoder.weight))
        out.append(("decoder.bias", self.decoder.bias))
        return out

    def forward(self, tokens, targets, h0, c0, masks):
        x = self.encoder(tokens) * masks[0]
        hT, cT = [], []
        for l, lstm in enumerate(self.layers):
            y, (h, c) = lstm(x, (h0[l:l + 1], c0[l:l + 1]))
            x = y * masks[l + 1]
            hT.append(h[0])
            cT.append(c[0])
        logits = self.decoder(x.reshape(-1, self.H))
        loss = F.cross_entropy(logits, targets.reshape(-1))
        return loss, torch.stack(hT), torch.stack(cT)


def reference_lm(model, tokens, targets, h0, c0):
    """The same model as word_language_model builds it, with one nn.LSTM(num_layers=2) and no dropout."""
    rnn = nn.LSTM(model.E, model.H, num_layers=model.L)
    with torch.no_grad():
        for name, p in model.named():
            if name.startswith("rnn."):
                getattr(rnn, name[4:]).copy_(p)
    emb = F.embedding(tokens, model.encoder.weight.detach().clone().requires_grad_())
    y, (hT, cT) = rnn(emb, (h0, c0))
    logits = F.linear(y.reshape(-1, model.H), model.decoder.weight.detach(), model.decoder.bias.detach())
    loss = F.cross_entropy(logits, targets.reshape(-1))
    loss.backward()
    return loss, hT, cT, rnn


def make_tokens(g, V, T, N):
    # A stream of T+1 steps per column, so targets are the next tokens as in the real model; then a few forced
    # repeats (within one time step and across steps) so the embedding gradient accumulates, and both ends of
    # the vocabulary appear.
    s = torch.randint(0, V, (T + 1, N), generator=g)
    s[2, 2] = s[2, 0]
    s[3, 1] = s[0, 0]
    s[4, 0] = V - 1
    s[1, 1] = 0
    tokens, targets = s[:T].clone(), s[1:].clone()
    assert len(set(tokens.reshape(-1).tolist())) < tokens.numel(), "no repeated token"
    return tokens.to(torch.int32), targets.to(torch.int32)


def make_masks(g, shapes, p, ones):
    if ones:
        return [torch.ones(s) for s in shapes]
    masks = [f32((torch.rand(s, generator=g) >= p).double() / (1 - p)) for s in shapes]
    scale = float(f32(torch.tensor(1 / (1 - p))))
    for m in masks:
        assert ((m == 0) | (m == scale)).all() and (m == 0).any() and (m != 0).any()
    return masks


def make_lm(fname, seed, tied, dropout, V=23, E=6, H=6, L=2, T=5, N=3):
    g = torch.Generator().manual_seed(seed)
    model = LM(V, E, H, L, tied)
    with torch.no_grad():
        for _, p in model.named():
            p.copy_(uniform(p.shape, g))
    tokens, targets = make_tokens(g, V, T, N)
    tok, tgt = tokens.long(), targets.long()
    h0 = uniform((L, N, H), g, -0.9, 0.9)
    c0 = randn((L, N, H), g)
    gm = torch.Generator().manual_seed(seed + 1)   # the masks' own generator
    masks = make_masks(gm, [(T, N, E), (T, N, H), (T, N, H)], P_DROP, ones=not dropout)

    loss, hT, cT = model(tok, tgt, h0, c0, masks)
    loss.backward()
    params = model.named()

    # -- checks ---------------------------------------------------------------------------------------------------
    ones = [torch.ones_like(m) for m in masks]
    ref_loss, ref_hT, ref_cT, ref_rnn = reference_lm(model, tok, tgt, h0, c0)
    model.zero_grad()
    l1, h1, c1 = model(tok, tgt, h0, c0, ones)
    l1.backward()
    check_close(f"{fname}: two single layers vs nn.LSTM(num_layers=2), loss", l1, ref_loss)
    check_close(f"{fname}: two single layers vs nn.LSTM(num_layers=2), hT", h1, ref_hT)
    check_close(f"{fname}: two single layers vs nn.LSTM(num_layers=2), cT", c1, ref_cT)
    for name, p in params:
        if name.startswith("rnn."):
            check_close(f"{fname}: two single layers vs nn.LSTM(num_layers=2), grad {name}",
                        p.grad, getattr(ref_rnn, name[4:]).grad)
    if not dropout:
        check_close(f"{fname}: loss", loss, ref_loss)

    # restore the real gradients (the comparison above overwrote them)
    model.zero_grad()
    loss, hT, cT = model(tok, tgt, h0, c0, masks)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in params}

    if tied:
        # the shared matrix's gradient is the embedding's plus the decoder's: rebuild untied with the same values
        untied = LM(V, E, H, L, tied=False)
        with torch.no_grad():
            src = dict(params)
            for name, p in untied.named():
                p.copy_(src["encoder.weight"] if name == "decoder.weight" else src[name])
        lu, _, _ = untied(tok, tgt, h0, c0, masks)
        lu.backward()
        check_close(f"{fname}: loss tied vs untied", lu, loss)
        check_close(f"{fname}: grad tied == grad embedding + grad decoder", grads["encoder.weight"],
                    untied.encoder.weight.grad + untied.decoder.weight.grad)

    loss_fn = lambda: model(tok, tgt, h0, c0, masks)[0]
    worst = 0.0
    for name, p in params:
        worst = max(worst, fd_check(f"{fname} grad.{name}", loss_fn, p, grads[name]))
    emb_rows = (grads["encoder.weight"].abs().sum(1) != 0).sum()
    print(f"{fname}: checks passed (finite differences: max abs error {worst:.2g}; loss {float(loss):.6f}, "
          f"log V = {torch.log(torch.tensor(float(V))):.6f}; {int(emb_rows)} embedding rows with gradient)")

    tensors = [("config", torch.tensor([V, E, H, L, T, N], dtype=torch.int32)),
               ("tokens", tokens), ("targets", targets), ("h0", h0), ("c0", c0)]
    tensors += [(name, p) for name, p in params]
    tensors += [("mask_emb", masks[0]), ("mask_l0", masks[1]), ("mask_l1", masks[2])]
    tensors += [("loss", loss.reshape(1)), ("hT", hT), ("cT", cT)]
    tensors += [("grad." + name, grads[name]) for name, _ in params]
    return fname, tensors


def main():
    if not os.path.isdir(OUT_DIR):
        sys.exit(f"make_fixtures: {OUT_DIR} is not a directory")
    try:
        fixtures = [make_lstm(),
                    make_lm("lm.bin", seed=2002, tied=False, dropout=True),
                    make_lm("lm_tied.bin", seed=3003, tied=True, dropout=True),
                    make_lm("lm_nodrop.bin", seed=4004, tied=False, dropout=False)]
    except Failed as e:
        sys.exit(f"make_fixtures: check failed, nothing written: {e}")
    for fname, tensors in fixtures:   # only once every check has passed
        write_fixture(fname, tensors)


if __name__ == "__main__":
    main()
