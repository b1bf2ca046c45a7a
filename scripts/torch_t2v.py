"""The built-in text-to-video model (halo-tiny-t2v: word tokenizer, text transformer, DiT denoiser over
spatiotemporal patch tokens with adaLN-zero, shifted cosine schedule) re-implemented in PyTorch from a
model folder (manifest.json + safetensors weights, read directly), for the benchmarks that compare ONNX
Runtime with PyTorch: scripts/bench-sample.py (sampling) and scripts/bench-dpo.py (a Gran-DPO training
step). The networks are functions of a weight dict (names as in the safetensors file), so a caller can
run the same network with other weights, e.g. a trainable policy copy beside the frozen base weights.
Mirrors src/models/networks.ts and src/models/layers.ts; only the DiT denoiser (learned or sin/cos token
positions) is implemented.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

DT = {'F32': np.float32, 'I64': np.int64, 'F64': np.float64}


def read_safetensors(path):
    """All tensors of a safetensors file, as a dict of CPU tensors (copies, writable)."""
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


def lin(w, name, x):
    """x · W + b with W stored (in, out) as the graph library stores it (one addmm, as nn.Linear)."""
    return F.linear(x, w[f'{name}.weight'].t(), w[f'{name}.bias'])


def sincos_positions(grid, width):
    """Fixed 3-D token positions [gt·gh·gw, width] as sincosPositions in src/models/networks.ts: a time part
    (a quarter of the width, rounded to even) and equal row and column parts, each sin then cos of its grid
    index times 10000^(−k/(n/2))."""
    nt = 2 * (width // 8)
    ns = 2 * ((width - nt) // 4)
    gt, gh, gw = grid

    def part(n, idx):
        half = n // 2
        w = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -torch.arange(half, dtype=torch.float64) / half)
        a = idx.to(torch.float64)[:, None] * w[None]
        return torch.cat([a.sin(), a.cos()], 1)

    t, y, x = torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw), indexing='ij')
    return torch.cat([part(nt, t.reshape(-1)), part(ns, y.reshape(-1)), part(ns, x.reshape(-1))], 1).to(torch.float32)


def attention(w, name, x, heads, mask=None, context=None):
    """Self-attention, or with `context` [B, S, D'] cross-attention to it (q from x, k and v from context)."""
    B, T, D = x.shape
    dh = D // heads
    if context is None:
        q, k, v = lin(w, f'{name}.qkv', x).split(D, dim=2)
    else:
        q = lin(w, f'{name}.q', x)
        k, v = lin(w, f'{name}.kv', context).split(D, dim=2)
    S = k.shape[1]
    q = (q * (1 / math.sqrt(dh))).reshape(B, T, heads, dh).transpose(1, 2)
    k = k.reshape(B, S, heads, dh).permute(0, 2, 3, 1)
    v = v.reshape(B, S, heads, dh).transpose(1, 2)
    s = q @ k
    if mask is not None:
        s = s + mask
    o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
    return lin(w, f'{name}.proj', o)


class T2V:
    def __init__(self, folder):
        m = json.load(open(f'{folder}/manifest.json'))
        if m['denoiser']['config'].get('architecture', 'dit') != 'dit':
            raise SystemExit(f"{folder}: only the DiT denoiser is implemented in PyTorch here")
        self.m = m
        self.w = read_safetensors(f"{folder}/{m['weights']}")
        self.tc = m['text_encoder']['config']
        self.dc = m['denoiser']['config']
        self.video = m['video']
        self.vocab = ['<pad>', '<unk>', '<bos>'] + m['tokenizer']['vocab']
        self.L = m['tokenizer']['max_length']
        s = m['schedule']
        self.shift, self.lmin, self.lmax = s['shift'], s['logsnr_min'], s['logsnr_max']

    def tokens(self, prompts):
        """Token ids [n, L] as src/models/tokenizer.ts makes them (None: the empty, unconditional prompt)."""
        ids = torch.zeros(len(prompts), self.L, dtype=torch.int64)
        index = {w: i for i, w in enumerate(self.vocab)}
        for i, p in enumerate(prompts):
            ws = [] if p is None else ''.join(c if c.isalnum() else ' ' for c in p.lower()).split()
            ids[i, 0] = 2
            for j, word in enumerate(ws):
                ids[i, j + 1] = index.get(word, 1)
        return ids

    def encode(self, ids, w=None):
        """Text encoder: ids [B, L] → text features [B, width] (the <bos> position, or the mean over the
        non-padding positions with pooling 'mean'), followed with 'words' by every position's output
        (zero at padding): [B, width·(1 + L)]."""
        w = self.w if w is None else w
        p = 'text.'
        D = self.tc['width']
        h = w[f'{p}tok.weight'][ids] + w[f'{p}pos']
        mask = torch.where(ids == 0, -1e9, 0.0).reshape(ids.shape[0], 1, 1, -1)
        for i in range(self.tc['layers']):
            b = f'{p}block{i}'
            a = attention(w, f'{b}.attn', F.layer_norm(h, (D,), w[f'{b}.ln1.weight'], w[f'{b}.ln1.bias']), self.tc['heads'], mask)
            h = h + a
            y = F.layer_norm(h, (D,), w[f'{b}.ln2.weight'], w[f'{b}.ln2.bias'])
            h = h + lin(w, f'{b}.mlp.fc2', F.gelu(lin(w, f'{b}.mlp.fc1', y)))
        h = F.layer_norm(h, (D,), w[f'{p}ln.weight'], w[f'{p}ln.bias'])
        keep = (ids != 0).to(h.dtype)
        pooled = h[:, 0] if self.tc.get('pooling', 'bos') == 'bos' else (h * keep[:, :, None]).sum(1) / keep.sum(1, keepdim=True)
        if not self.tc.get('words'):
            return pooled
        return torch.cat([pooled, (h * keep[:, :, None]).reshape(h.shape[0], -1)], 1)

    def denoise(self, x, t, text, w=None):
        """DiT denoiser: x_t [B, 3, T, H, W], t [B], text [B, width] (or, with textWords L, the pooled
        vector and L word vectors [B, width·(1 + L)]) → x0 prediction [B, 3, T, H, W]."""
        w = self.w if w is None else w
        p = 'den.'
        c = self.dc
        B, C, T, H, W = x.shape
        pt, ph, pw = c['patch']
        gt, gh, gw = T // pt, H // ph, W // pw
        tok = x.reshape(B, C, gt, pt, gh, ph, gw, pw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, gt * gh * gw, -1)
        D = c['width']
        pos = w[f'{p}pos'] if c.get('positions', 'learned') == 'learned' else sincos_positions((gt, gh, gw), D)
        h = lin(w, f'{p}embed', tok) + pos
        half = 32
        freqs = 1000 * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        arg = t[:, None] * freqs[None]
        tf = torch.cat([arg.sin(), arg.cos()], 1)
        L = c.get('textWords')
        words = wmask = None
        if L:
            Dt = text.shape[1] // (1 + L)
            words = text[:, Dt:].reshape(B, L, Dt)
            wmask = torch.where((words * words).sum(2) == 0, -1e9, 0.0).reshape(B, 1, 1, L)
            text = text[:, :Dt]
        cond = lin(w, f'{p}cond.time.fc2', F.silu(lin(w, f'{p}cond.time.fc1', tf))) + lin(w, f'{p}cond.text', text)
        sc = F.silu(cond)
        for i in range(c['depth']):
            b = f'{p}block{i}'
            sh1, s1, g1, sh2, s2, g2, *gx = lin(w, f'{b}.ada', sc).split(D, dim=1)
            y = F.layer_norm(h, (D,), eps=1e-6) * (1 + s1[:, None]) + sh1[:, None]
            h = h + attention(w, f'{b}.attn', y, c['heads']) * g1[:, None]
            if L:
                h = h + attention(w, f'{b}.xattn', F.layer_norm(h, (D,), eps=1e-6), c['heads'], wmask, words) * gx[0][:, None]
            y = F.layer_norm(h, (D,), eps=1e-6) * (1 + s2[:, None]) + sh2[:, None]
            h = h + lin(w, f'{b}.mlp.fc2', F.gelu(lin(w, f'{b}.mlp.fc1', y), approximate='tanh')) * g2[:, None]
        sh, s = lin(w, f'{p}final.ada', sc).split(D, dim=1)
        y = F.layer_norm(h, (D,), eps=1e-6) * (1 + s[:, None]) + sh[:, None]
        out = lin(w, f'{p}final.out', y)
        return out.reshape(B, gt, gh, gw, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(B, C, T, H, W)

    def x0(self, xt, t, ids, w=None):
        """Text encoder + denoiser, as buildT2V in src/models/t2v.ts."""
        return self.denoise(xt, t, self.encode(ids, w), w)

    def alpha_sigma(self, t):
        """α(t), σ(t) of the shifted cosine schedule (src/models/schedule.ts)."""
        t = min(max(t, 0.0), 1.0)
        if t == 0:
            lsnr = self.lmax
        elif t == 1:
            lsnr = self.lmin
        else:
            lsnr = min(max(-2 * math.log(math.tan(math.pi * t / 2)) - 2 * math.log(self.shift), self.lmin), self.lmax)
        sig = 1 / (1 + math.exp(-lsnr))
        return math.sqrt(sig), math.sqrt(1 - sig)
