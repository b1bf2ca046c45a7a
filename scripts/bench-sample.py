#!/usr/bin/python3
"""PyTorch peer of scripts/bench-sample.ts: the built-in halo-tiny-t2v (DiT denoiser + text encoder)
re-implemented in PyTorch with the same weights (safetensors read directly), sampled with the same DDIM
sampler and classifier-free guidance. Prints one JSON line: seconds per run (model loading excluded),
and, with --check FILE, the largest difference from the ONNX Runtime denoiser output stored there.

    /usr/bin/python3 scripts/bench-sample.py --model DIR --prompts N --steps S --guidance G
        --threads 2 --runs R [--check FILE.safetensors]
"""
import argparse
import json
import math
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

DT = {'F32': np.float32, 'I64': np.int64, 'F64': np.float64}


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        a, b = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=DT[v['dtype']]).reshape(v['shape']).copy())
    return out


class Model:
    def __init__(self, folder):
        m = json.load(open(f'{folder}/manifest.json'))
        self.m = m
        self.w = read_safetensors(f"{folder}/{m['weights']}")
        self.tc = m['text_encoder']['config']
        self.dc = m['denoiser']['config']
        self.vocab = ['<pad>', '<unk>', '<bos>'] + m['tokenizer']['vocab']
        self.L = m['tokenizer']['max_length']
        s = m['schedule']
        self.shift, self.lmin, self.lmax = s['shift'], s['logsnr_min'], s['logsnr_max']

    def lin(self, name, x):
        return x @ self.w[f'{name}.weight'] + self.w[f'{name}.bias']

    def tokens(self, prompts):
        ids = torch.zeros(len(prompts), self.L, dtype=torch.int64)
        index = {w: i for i, w in enumerate(self.vocab)}
        for i, p in enumerate(prompts):
            ws = [] if p is None else [w for w in ''.join(c if c.isalnum() else ' ' for c in p.lower()).split()]
            ids[i, 0] = 2
            for j, w in enumerate(ws):
                ids[i, j + 1] = index.get(w, 1)
        return ids

    def attention(self, name, x, heads, mask=None):
        B, T, D = x.shape
        dh = D // heads
        q, k, v = self.lin(f'{name}.qkv', x).split(D, dim=2)
        q = (q * (1 / math.sqrt(dh))).reshape(B, T, heads, dh).transpose(1, 2)
        k = k.reshape(B, T, heads, dh).permute(0, 2, 3, 1)
        v = v.reshape(B, T, heads, dh).transpose(1, 2)
        s = q @ k
        if mask is not None:
            s = s + mask
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        return self.lin(f'{name}.proj', o)

    def encode(self, ids):
        p = 'text.'
        D = self.tc['width']
        h = self.w[f'{p}tok.weight'][ids] + self.w[f'{p}pos']
        mask = torch.where(ids == 0, -1e9, 0.0).reshape(ids.shape[0], 1, 1, -1)
        for i in range(self.tc['layers']):
            b = f'{p}block{i}'
            a = self.attention(f'{b}.attn', F.layer_norm(h, (D,), self.w[f'{b}.ln1.weight'], self.w[f'{b}.ln1.bias']), self.tc['heads'], mask)
            h = h + a
            m = self.lin(f'{b}.mlp.fc2', F.gelu(self.lin(f'{b}.mlp.fc1', F.layer_norm(h, (D,), self.w[f'{b}.ln2.weight'], self.w[f'{b}.ln2.bias']))))
            h = h + m
        h = F.layer_norm(h, (D,), self.w[f'{p}ln.weight'], self.w[f'{p}ln.bias'])
        return h[:, 0]

    def denoise(self, x, t, text):
        p = 'den.'
        c = self.dc
        B, C, T, H, W = x.shape
        pt, ph, pw = c['patch']
        gt, gh, gw = T // pt, H // ph, W // pw
        tok = x.reshape(B, C, gt, pt, gh, ph, gw, pw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, gt * gh * gw, -1)
        D = c['width']
        h = self.lin(f'{p}embed', tok) + self.w[f'{p}pos']
        half = 32
        freqs = 1000 * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        arg = t[:, None] * freqs[None]
        tf = torch.cat([arg.sin(), arg.cos()], 1)
        cond = self.lin(f'{p}cond.time.fc2', F.silu(self.lin(f'{p}cond.time.fc1', tf))) + self.lin(f'{p}cond.text', text)
        sc = F.silu(cond)
        for i in range(c['depth']):
            b = f'{p}block{i}'
            sh1, s1, g1, sh2, s2, g2 = self.lin(f'{b}.ada', sc).split(D, dim=1)
            y = F.layer_norm(h, (D,), eps=1e-6) * (1 + s1[:, None]) + sh1[:, None]
            h = h + self.attention(f'{b}.attn', y, c['heads']) * g1[:, None]
            y = F.layer_norm(h, (D,), eps=1e-6) * (1 + s2[:, None]) + sh2[:, None]
            h = h + self.lin(f'{b}.mlp.fc2', F.gelu(self.lin(f'{b}.mlp.fc1', y), approximate='tanh')) * g2[:, None]
        sh, s = self.lin(f'{p}final.ada', sc).split(D, dim=1)
        y = F.layer_norm(h, (D,), eps=1e-6) * (1 + s[:, None]) + sh[:, None]
        out = self.lin(f'{p}final.out', y)
        return out.reshape(B, gt, gh, gw, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(B, C, T, H, W)

    def alpha_sigma(self, t):
        t = min(max(t, 0.0), 1.0)
        if t == 0:
            l = self.lmax
        elif t == 1:
            l = self.lmin
        else:
            l = min(max(-2 * math.log(math.tan(math.pi * t / 2)) - 2 * math.log(self.shift), self.lmin), self.lmax)
        sig = 1 / (1 + math.exp(-l))
        return math.sqrt(sig), math.sqrt(1 - sig)

    def sample(self, prompts, steps, guidance, seed=0):
        v = self.m['video']
        n = len(prompts)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 3, v['frames'], v['height'], v['width'], generator=g)
        text = self.encode(self.tokens(list(prompts) + [None] * n))
        ts = [1 - i / steps for i in range(steps + 1)]
        for k in range(steps):
            t, s = ts[k], ts[k + 1]
            pred = self.denoise(torch.cat([x, x]), torch.full((2 * n,), t), text)
            x0 = (pred[n:] + guidance * (pred[:n] - pred[n:])).clamp(-1, 1)
            if s <= 0:
                x = x0
                break
            at, st = self.alpha_sigma(t)
            as_, ss = self.alpha_sigma(s)
            cc = ss / st
            x = (as_ - cc * at) * x0 + cc * x
        return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--prompts', type=int, default=8)
    ap.add_argument('--steps', type=int, default=25)
    ap.add_argument('--guidance', type=float, default=2.0)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--check')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = Model(a.model)
    out = {'threads': torch.get_num_threads(), 'torch': torch.__version__}
    with torch.no_grad():
        if a.check:
            c = read_safetensors(a.check)
            got = model.denoise(c['x'], c['t'], c['text'])
            out['max_abs_diff'] = float((got - c['out']).abs().max())
            te = model.encode(c['ids'])
            out['text_max_abs_diff'] = float((te - c['text']).abs().max())
        prompts = [f'a red circle moves left on a gray background'] * a.prompts
        model.sample(prompts[:2], 2, a.guidance)  # warm-up
        secs = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            model.sample(prompts, a.steps, a.guidance)
            secs.append(time.perf_counter() - t0)
    out['seconds'] = secs
    print(json.dumps(out))


if __name__ == '__main__':
    main()
