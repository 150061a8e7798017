#!/usr/bin/env python3
"""The Python half of bench_trainer: the same Llama training step as trainer/torch-lm (forward,
causal LM loss, backward, gradient clipping, AdamW) in PyTorch's Python API, on the same
configuration and batch shape. Needs python3 with torch (Debian: python3-torch, the same 1.13
build as libtorch-dev). Prints `tokens_per_s=<number>` for bench_trainer.cpp to read.

The model is written as Hugging Face's modeling_llama computes it (eager attention, float32
RMSNorm, rotary embeddings, SwiGLU, grouped-query attention by repeat_interleave): the same
mathematics as plugins/lm/llama.cpp, which reproduces it within the fixtures' tolerances but runs
the elementwise work as fused kernels (docs/trainer.md, Performance).
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


def rms_norm(x, w, eps=1e-5):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Llama(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        H, I, V = a.hidden, a.intermediate, a.vocab
        self.nh, self.nkv, self.D = a.heads, a.kv_heads, a.hidden // a.heads
        g = torch.Generator().manual_seed(0)

        def p(*shape, norm=False):
            t = torch.ones(*shape) if norm else torch.empty(*shape).normal_(0, 0.02, generator=g)
            return torch.nn.Parameter(t)

        self.embed = p(V, H)
        self.layers = torch.nn.ModuleList()
        for _ in range(a.layers):
            L = torch.nn.Module()
            L.input_norm, L.post_norm = p(H, norm=True), p(H, norm=True)
            L.q, L.k = p(self.nh * self.D, H), p(self.nkv * self.D, H)
            L.v, L.o = p(self.nkv * self.D, H), p(H, self.nh * self.D)
            L.gate, L.up, L.down = p(I, H), p(I, H), p(H, I)
            self.layers.append(L)
        self.norm = p(H, norm=True)
        self.lm_head = p(V, H)
        exponent = torch.arange(0, self.D, 2).float() / self.D
        self.register_buffer("inv_freq", 1.0 / (10000.0 ** exponent))

    def forward(self, ids):
        B, T = ids.shape
        nh, nkv, D = self.nh, self.nkv, self.D
        x = F.embedding(ids, self.embed)
        freqs = torch.outer(torch.arange(T).float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        scale = 1.0 / math.sqrt(D)
        for L in self.layers:
            h = rms_norm(x, L.input_norm)
            q = F.linear(h, L.q).view(B, T, nh, D).transpose(1, 2)
            k = F.linear(h, L.k).view(B, T, nkv, D).transpose(1, 2)
            v = F.linear(h, L.v).view(B, T, nkv, D).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if nkv != nh:
                k = k.repeat_interleave(nh // nkv, 1)
                v = v.repeat_interleave(nh // nkv, 1)
            scores = torch.matmul(q, k.transpose(2, 3)) * scale + mask
            probs = torch.softmax(scores, -1, dtype=torch.float32).to(q.dtype)
            attn = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, nh * D)
            x = x + F.linear(attn, L.o)
            h = rms_norm(x, L.post_norm)
            x = x + F.linear(F.silu(F.linear(h, L.gate)) * F.linear(h, L.up), L.down)
        return F.linear(rms_norm(x, self.norm), self.lm_head).float()


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(hidden=256, layers=4, heads=4, intermediate=688, vocab=2048, seq=256,
                     batch=8, steps=10, warmup=2, threads=0).items():
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--kv-heads", dest="kv_heads", type=int, default=4)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    model = Llama(a)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(a.vocab, (a.batch, a.seq), generator=g)
    secs, loss = 0.0, float("nan")
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        logits = model(ids)
        l = F.cross_entropy(logits[:, :-1].reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = l.item()
        if s >= a.warmup:
            secs += time.perf_counter() - t0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, final loss {loss:.4f}")
    print(f"tokens_per_s={a.steps * a.batch * a.seq / secs:.1f}")


if __name__ == "__main__":
    main()
