#!/usr/bin/python3
"""Writes tests/ref/transformer.bin: PyTorch references for the Transformer's layers and the whole model.

Run from the repository root with Debian's torch (python3-torch 1.13, which has no scaled_dot_product_attention):

    /usr/bin/python3 tests/ref/make_transformer_fixtures.py

Deterministic (fixed seeds); inputs are rounded to float32 and everything is then computed in float64, so a C
mismatch is the C code's own float32 error. Before writing, the script checks itself and writes nothing if a check
fails:
  - the attention written out, softmax(q k^T / sqrt(hd) + causal mask) v per head, between the input and output
    projections, equals torch.nn.MultiheadAttention with a causal attn_mask on the same weights;
  - the model written out block by block equals a stack of torch.nn.TransformerEncoderLayer(norm_first=True,
    activation tanh-GELU, dropout 0) with the causal mask, a final nn.LayerNorm and the tied decoder;
  - the model's gradients against central differences in float64 (a sample of every parameter's elements);
  - the file reads back to the same values.

Tensors (row-major; the model's rows are sequence-major, row n*T + t, as models/transformer_lm.h):
  ln.x (N,C)  ln.weight (C)  ln.bias (C)  ln.dy (N,C) -> ln.y  ln.d_x  ln.d_weight  ln.d_bias   nn.LayerNorm(C),
      loss sum(y * dy); N=5 C=12, x with a large mean (the variance must not cancel)
  gelu.x (n)  gelu.dy (n) -> gelu.y  gelu.d_x      nn.GELU(approximate='tanh'), x over [-6, 6]
  attn.config int32 [N, T, D, H]  attn.qkv (N*T, 3D)  attn.mask (N,H,T,T)  attn.dy (N*T, D) ->
      attn.out (N*T, D)  attn.probs (N,H,T,T)  attn.d_qkv (N*T, 3D)     mask: dropout p = 0.25 (0 or 1/(1-p))
  model.config int32 [V, D, H, L, F, T, N]  model.tokens, model.targets int32 (N,T)
      model.<param> for every parameter (tok_emb.weight, pos_emb.weight, blocks.<l>.ln1.weight, ...,
      decoder.bias; the names of models/transformer_lm.c)
      model.mask_emb (N,T,D)  model.att_mask_l<l> (N,H,T,T)  model.mask_att_l<l>, model.mask_mlp_l<l> (N,T,D)
      model.loss (1)  model.grad.<param>       dropout 0.3 on the embedding and residual branches, 0.2 on the
                                               probabilities
  nodrop.*: the same without dropout (no masks), another seed.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import Failed, check_close, f32, write_fixture  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
SEED = 20261202


def randn(shape, g, scale=1.0, shift=0.0):
    return f32(scale * torch.randn(shape, generator=g) + shift)


def dropout_mask(shape, p, g):
    keep = (torch.rand(shape, generator=g) >= p).double()
    return f32(keep / (1 - p))


def i32(*vals):
    return torch.tensor(vals, dtype=torch.int32)


# ---------------------------------------------------------------------------------------------------------------
# the layers

def make_layernorm(g, N=5, C=12):
    x = randn((N, C), g, 2.0, 30.0).requires_grad_()
    w, b = randn((C,), g, 0.5, 1.0).requires_grad_(), randn((C,), g, 0.5).requires_grad_()
    dy = randn((N, C), g)
    ln = nn.LayerNorm(C)
    with torch.no_grad():
        ln.weight.copy_(w), ln.bias.copy_(b)
    y = ln(x)
    check_close("layernorm by hand", (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False,
                keepdim=True) + 1e-5) * w + b, y)
    (y * dy).sum().backward()
    return [("ln.x", x), ("ln.weight", w), ("ln.bias", b), ("ln.dy", dy), ("ln.y", y), ("ln.d_x", x.grad),
            ("ln.d_weight", ln.weight.grad), ("ln.d_bias", ln.bias.grad)]


def make_gelu(g, n=97):
    x = f32(torch.linspace(-6, 6, n) + 0.01 * torch.randn(n, generator=g)).requires_grad_()
    dy = randn((n,), g)
    y = nn.GELU(approximate="tanh")(x)
    k = math.sqrt(2 / math.pi)
    check_close("gelu by hand", 0.5 * x * (1 + torch.tanh(k * (x + 0.044715 * x ** 3))), y)
    (y * dy).sum().backward()
    return [("gelu.x", x), ("gelu.dy", dy), ("gelu.y", y), ("gelu.d_x", x.grad)]


def causal(T):
    return torch.triu(torch.full((T, T), float("-inf")), diagonal=1)


def attention_core(qkv, mask, N, T, D, H):
    """softmax(q k^T / sqrt(hd) + causal) (times the dropout mask) v, per head; returns (out, probs)."""
    hd = D // H
    q, k, v = qkv.reshape(N, T, 3, H, hd).permute(2, 0, 3, 1, 4)  # each (N, H, T, hd)
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + causal(T), dim=-1)
    dropped = probs * mask if mask is not None else probs
    out = (dropped @ v).permute(0, 2, 1, 3).reshape(N * T, D)
    return out, probs


def check_attention_against_mha(g, N=2, T=5, D=8, H=2):
    x = randn((N, T, D), g)
    mha = nn.MultiheadAttention(D, H, bias=True, batch_first=True)
    with torch.no_grad():
        for prm in mha.parameters():
            prm.copy_(randn(prm.shape, g, 0.5))
    want, _ = mha(x, x, x, attn_mask=causal(T), need_weights=False)
    qkv = x.reshape(N * T, D) @ mha.in_proj_weight.T + mha.in_proj_bias
    out, _ = attention_core(qkv, None, N, T, D, H)
    got = out @ mha.out_proj.weight.T + mha.out_proj.bias
    check_close("attention by hand vs nn.MultiheadAttention", got.reshape(N, T, D), want, rtol=1e-10, atol=1e-12)


def make_attention(g, N=2, T=5, D=8, H=2, p=0.25):
    qkv = randn((N * T, 3 * D), g).requires_grad_()
    mask = dropout_mask((N, H, T, T), p, g)
    dy = randn((N * T, D), g)
    out, probs = attention_core(qkv, mask, N, T, D, H)
    (out * dy).sum().backward()
    return [("attn.config", i32(N, T, D, H)), ("attn.qkv", qkv), ("attn.mask", mask), ("attn.dy", dy),
            ("attn.out", out), ("attn.probs", probs), ("attn.d_qkv", qkv.grad)]


# ---------------------------------------------------------------------------------------------------------------
# the model

def param_shapes(V, D, L, F_, T):
    shapes = [("tok_emb.weight", (V, D)), ("pos_emb.weight", (T, D))]
    for l in range(L):
        b = f"blocks.{l}."
        shapes += [(b + "ln1.weight", (D,)), (b + "ln1.bias", (D,)), (b + "attn.in_proj_weight", (3 * D, D)),
                   (b + "attn.in_proj_bias", (3 * D,)), (b + "attn.out_proj.weight", (D, D)),
                   (b + "attn.out_proj.bias", (D,)), (b + "ln2.weight", (D,)), (b + "ln2.bias", (D,)),
                   (b + "mlp.fc1.weight", (F_, D)), (b + "mlp.fc1.bias", (F_,)), (b + "mlp.fc2.weight", (D, F_)),
                   (b + "mlp.fc2.bias", (D,))]
    return shapes + [("ln_f.weight", (D,)), ("ln_f.bias", (D,)), ("decoder.bias", (V,))]


def layer_norm(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)


def model_loss(P, masks, tokens, targets, cfg):
    V, D, H, L, F_, T, N = cfg
    x = P["tok_emb.weight"][tokens.long()] + P["pos_emb.weight"][:T]  # (N, T, D)
    if masks:
        x = x * masks["mask_emb"]
    for l in range(L):
        b = f"blocks.{l}."
        h = layer_norm(x, P[b + "ln1.weight"], P[b + "ln1.bias"]).reshape(N * T, D)
        qkv = h @ P[b + "attn.in_proj_weight"].T + P[b + "attn.in_proj_bias"]
        att, _ = attention_core(qkv, masks[f"att_mask_l{l}"] if masks else None, N, T, D, H)
        a = (att @ P[b + "attn.out_proj.weight"].T + P[b + "attn.out_proj.bias"]).reshape(N, T, D)
        x = x + (a * masks[f"mask_att_l{l}"] if masks else a)
        h = layer_norm(x, P[b + "ln2.weight"], P[b + "ln2.bias"])
        u = F.gelu(h @ P[b + "mlp.fc1.weight"].T + P[b + "mlp.fc1.bias"], approximate="tanh")
        m = u @ P[b + "mlp.fc2.weight"].T + P[b + "mlp.fc2.bias"]
        x = x + (m * masks[f"mask_mlp_l{l}"] if masks else m)
    h = layer_norm(x, P["ln_f.weight"], P["ln_f.bias"])
    logits = h.reshape(N * T, D) @ P["tok_emb.weight"].T + P["decoder.bias"]
    return F.cross_entropy(logits, targets.reshape(-1).long())


def check_model_against_torch(P, tokens, targets, cfg, want):
    V, D, H, L, F_, T, N = cfg
    x = P["tok_emb.weight"][tokens.long()] + P["pos_emb.weight"][:T]
    for l in range(L):
        b = f"blocks.{l}."
        layer = nn.TransformerEncoderLayer(D, H, F_, dropout=0.0, activation=lambda u: F.gelu(u, approximate="tanh"),
                                           batch_first=True, norm_first=True)
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(P[b + "attn.in_proj_weight"])
            layer.self_attn.in_proj_bias.copy_(P[b + "attn.in_proj_bias"])
            layer.self_attn.out_proj.weight.copy_(P[b + "attn.out_proj.weight"])
            layer.self_attn.out_proj.bias.copy_(P[b + "attn.out_proj.bias"])
            layer.norm1.weight.copy_(P[b + "ln1.weight"]), layer.norm1.bias.copy_(P[b + "ln1.bias"])
            layer.norm2.weight.copy_(P[b + "ln2.weight"]), layer.norm2.bias.copy_(P[b + "ln2.bias"])
            layer.linear1.weight.copy_(P[b + "mlp.fc1.weight"]), layer.linear1.bias.copy_(P[b + "mlp.fc1.bias"])
            layer.linear2.weight.copy_(P[b + "mlp.fc2.weight"]), layer.linear2.bias.copy_(P[b + "mlp.fc2.bias"])
        x = layer(x, src_mask=causal(T))
    h = layer_norm(x, P["ln_f.weight"], P["ln_f.bias"])
    logits = h.reshape(N * T, D) @ P["tok_emb.weight"].T + P["decoder.bias"]
    got = F.cross_entropy(logits, targets.reshape(-1).long())
    check_close("model by hand vs nn.TransformerEncoderLayer", got, want, rtol=1e-10, atol=0)


def fd_sample(what, loss_fn, tensor, grad, samples=12, eps=1e-6):
    flat, gflat = tensor.data.view(-1), grad.reshape(-1)
    for k in torch.linspace(0, flat.numel() - 1, min(samples, flat.numel())).long().tolist():
        v = float(flat[k])
        with torch.no_grad():
            flat[k] = v + eps
            up = float(loss_fn())
            flat[k] = v - eps
            down = float(loss_fn())
            flat[k] = v
        num = (up - down) / (2 * eps)
        if abs(num - float(gflat[k])) > 1e-7 + 1e-6 * abs(num):
            raise Failed(f"finite differences, {what}[{k}]: autograd {float(gflat[k]):.10g} numeric {num:.10g}")


def make_model(prefix, g, dropout, V=29, D=8, H=2, L=2, F_=32, T=6, N=3):
    cfg = (V, D, H, L, F_, T, N)
    P = {}
    for name, shape in param_shapes(V, D, L, F_, T):
        leaf = name.rsplit(".", 1)[1]
        if len(shape) == 2:
            P[name] = randn(shape, g, 0.3)
        else:  # LayerNorm weights around 1, every bias small but nonzero
            P[name] = randn(shape, g, 0.2, 1.0 if leaf == "weight" and "ln" in name else 0.0)
        P[name].requires_grad_()
    tokens = torch.randint(0, V, (N, T), generator=g, dtype=torch.int32)
    targets = torch.randint(0, V, (N, T), generator=g, dtype=torch.int32)
    masks = {}
    if dropout:
        masks["mask_emb"] = dropout_mask((N, T, D), 0.3, g)
        for l in range(L):
            masks[f"att_mask_l{l}"] = dropout_mask((N, H, T, T), 0.2, g)
            masks[f"mask_att_l{l}"] = dropout_mask((N, T, D), 0.3, g)
            masks[f"mask_mlp_l{l}"] = dropout_mask((N, T, D), 0.3, g)
    loss = model_loss(P, masks, tokens, targets, cfg)
    if not dropout:
        check_model_against_torch(P, tokens, targets, cfg, loss)
    loss.backward()
    for name, t in P.items():
        fd_sample(f"{prefix} {name}", lambda: model_loss(P, masks, tokens, targets, cfg), t, t.grad)
    out = [(prefix + ".config", i32(*cfg)), (prefix + ".tokens", tokens), (prefix + ".targets", targets)]
    out += [(f"{prefix}.{name}", t) for name, t in P.items()]
    out += [(f"{prefix}.{name}", t) for name, t in masks.items()]
    out += [(prefix + ".loss", loss)]
    out += [(f"{prefix}.grad.{name}", t.grad) for name, t in P.items()]
    return out


def main():
    g = torch.Generator().manual_seed(SEED)
    try:
        tensors = make_layernorm(g) + make_gelu(g)
        check_attention_against_mha(g)
        tensors += make_attention(g)
        tensors += make_model("model", g, dropout=True)
        tensors += make_model("nodrop", g, dropout=False)
    except Failed as e:
        sys.exit(f"make_transformer_fixtures: check failed, nothing written: {e}")
    write_fixture("transformer.bin", tensors)


if __name__ == "__main__":
    main()
