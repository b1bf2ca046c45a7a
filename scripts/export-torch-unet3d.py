#!/usr/bin/python3
"""Build a small UNet-style 3D convolutional text-to-video denoiser in PyTorch, export it with
torch.onnx (text encoder + denoiser) and write the model folder's manifest (docs/generator.md), so that
halo-sample can run a model made outside the toolkit. The weights are PyTorch's seeded initialisation
(the point is the interface, not the pictures). Not run in CI; its output is committed as
fixtures/models/torch-unet3d/.

    /usr/bin/python3 scripts/export-torch-unet3d.py [--out fixtures/models/torch-unet3d]
        [--tokenizer-from fixtures/models/halo-tiny-t2v/manifest.json]

In: the tokenizer of the built-in model's manifest (same vocabulary). Out: text_encoder.onnx,
denoiser.onnx, manifest.json (kind "t2v", prediction "eps", batch as a free dimension).
"""
import argparse
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

FRAMES, HEIGHT, WIDTH, FPS = 8, 16, 16, 8
TEXT_DIM = 32


class TextEncoder(nn.Module):
    """ids [B, L] (0 = <pad>) -> masked mean of embeddings -> linear: [B, TEXT_DIM]."""

    def __init__(self, vocab):
        super().__init__()
        self.emb = nn.Embedding(vocab, TEXT_DIM)
        self.proj = nn.Linear(TEXT_DIM, TEXT_DIM)

    def forward(self, ids):
        mask = (ids != 0).float().unsqueeze(-1)
        h = (self.emb(ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.proj(h)


def time_features(t, dim=32):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half) * 1000.0
    arg = t.unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class Block(nn.Module):
    """conv3d 3x3x3 -> FiLM from the conditioning -> SiLU -> conv3d 3x3x3, residual."""

    def __init__(self, cin, cout, cond):
        super().__init__()
        self.c1 = nn.Conv3d(cin, cout, 3, padding=1)
        self.film = nn.Linear(cond, 2 * cout)
        self.c2 = nn.Conv3d(cout, cout, 3, padding=1)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, c):
        h = self.c1(x)
        s, b = self.film(c).chunk(2, dim=1)
        h = F.silu(h * (1 + s[:, :, None, None, None]) + b[:, :, None, None, None])
        return self.skip(x) + self.c2(h)


class UNet3D(nn.Module):
    """x [B, 3, T, H, W], t [B], text [B, TEXT_DIM] -> eps prediction [B, 3, T, H, W]."""

    def __init__(self, ch=16):
        super().__init__()
        cond = 4 * ch
        self.time = nn.Sequential(nn.Linear(32, cond), nn.SiLU(), nn.Linear(cond, cond))
        self.text = nn.Linear(TEXT_DIM, cond)
        self.inp = nn.Conv3d(3, ch, 3, padding=1)
        self.down1 = Block(ch, ch, cond)
        self.pool = nn.Conv3d(ch, 2 * ch, (1, 2, 2), stride=(1, 2, 2))
        self.mid = Block(2 * ch, 2 * ch, cond)
        self.up = nn.ConvTranspose3d(2 * ch, ch, (1, 2, 2), stride=(1, 2, 2))
        self.up1 = Block(2 * ch, ch, cond)
        self.out = nn.Conv3d(ch, 3, 3, padding=1)

    def forward(self, x, t, text):
        c = self.time(time_features(t)) + self.text(text)
        h0 = self.down1(self.inp(x), c)
        h = self.mid(self.pool(h0), c)
        h = self.up1(torch.cat([self.up(h), h0], dim=1), c)
        return self.out(F.silu(h))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='fixtures/models/torch-unet3d')
    ap.add_argument('--tokenizer-from', default='fixtures/models/halo-tiny-t2v/manifest.json')
    a = ap.parse_args()
    with open(a.tokenizer_from) as f:
        tokenizer = json.load(f)['tokenizer']
    vocab = 3 + len(tokenizer['vocab'])
    L = tokenizer['max_length']
    torch.manual_seed(0)
    te, den = TextEncoder(vocab).eval(), UNet3D().eval()
    os.makedirs(a.out, exist_ok=True)
    ids = torch.zeros(2, L, dtype=torch.int64)
    ids[:, 0] = 2
    x = torch.randn(2, 3, FRAMES, HEIGHT, WIDTH)
    t = torch.rand(2)
    text = te(ids)
    with torch.no_grad():
        torch.onnx.export(te, (ids,), os.path.join(a.out, 'text_encoder.onnx'), input_names=['input_ids'], output_names=['text_features'],
                          dynamic_axes={'input_ids': {0: 'batch'}, 'text_features': {0: 'batch'}}, opset_version=17)
        torch.onnx.export(den, (x, t, text), os.path.join(a.out, 'denoiser.onnx'), input_names=['sample', 'timestep', 'encoder_hidden_states'],
                          output_names=['noise_pred'], dynamic_axes={k: {0: 'batch'} for k in ['sample', 'timestep', 'encoder_hidden_states', 'noise_pred']},
                          opset_version=17)
    v = ['batch', 3, FRAMES, HEIGHT, WIDTH]
    manifest = {
        'format': 'halo-model@1',
        'kind': 't2v',
        'name': 'torch-unet3d',
        'video': {'frames': FRAMES, 'height': HEIGHT, 'width': WIDTH, 'channels': 3, 'fps': FPS},
        'tokenizer': tokenizer,
        'schedule': {'type': 'cosine', 'shift': 1, 'logsnr_min': -15, 'logsnr_max': 15},
        'prediction': 'eps',
        'text_encoder': {'file': 'text_encoder.onnx',
                         'inputs': {'ids': {'name': 'input_ids', 'dtype': 'int64', 'shape': ['batch', L]}},
                         'outputs': {'text': {'name': 'text_features', 'dtype': 'float32', 'shape': ['batch', TEXT_DIM]}}},
        'denoiser': {'file': 'denoiser.onnx',
                     'inputs': {'x': {'name': 'sample', 'dtype': 'float32', 'shape': v},
                                't': {'name': 'timestep', 'dtype': 'float32', 'shape': ['batch']},
                                'text': {'name': 'encoder_hidden_states', 'dtype': 'float32', 'shape': ['batch', TEXT_DIM]}},
                     'outputs': {'out': {'name': 'noise_pred', 'dtype': 'float32', 'shape': v}}},
        'sampler': {'name': 'ddim', 'steps': 10, 'guidance': 1.5},
        'provenance': {'command': '/usr/bin/python3 scripts/export-torch-unet3d.py', 'torch': torch.__version__,
                       'parameters': sum(p.numel() for p in list(te.parameters()) + list(den.parameters())),
                       'weights': 'torch.manual_seed(0) initialisation (untrained)'},
    }
    with open(os.path.join(a.out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    print(f'exported {a.out}: text_encoder.onnx, denoiser.onnx, manifest.json')


if __name__ == '__main__':
    main()
