#!/usr/bin/python3
"""PyTorch peer of scripts/bench-sample.ts: the built-in halo-tiny-t2v (DiT denoiser + text encoder)
in PyTorch (scripts/torch_t2v.py, the same weights read from the model folder), sampled with the same DDIM
sampler and classifier-free guidance. Prints one JSON line: seconds per run (model loading excluded),
and, with --check FILE, the largest difference from the ONNX Runtime denoiser output stored there.

    /usr/bin/python3 scripts/bench-sample.py --model DIR --prompts N --steps S --guidance G
        --threads 2 --runs R [--check FILE.safetensors]
"""
import argparse
import json
import time

import torch

from torch_t2v import T2V, read_safetensors


def sample(model, prompts, steps, guidance, seed=0):
    """DDIM with classifier-free guidance on x0 predictions, as src/models/sampler.ts."""
    v = model.video
    n = len(prompts)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, v['frames'], v['height'], v['width'], generator=g)
    text = model.encode(model.tokens(list(prompts) + [None] * n))
    ts = [1 - i / steps for i in range(steps + 1)]
    for k in range(steps):
        t, s = ts[k], ts[k + 1]
        pred = model.denoise(torch.cat([x, x]), torch.full((2 * n,), t), text)
        x0 = (pred[n:] + guidance * (pred[:n] - pred[n:])).clamp(-1, 1)
        if s <= 0:
            x = x0
            break
        at, st = model.alpha_sigma(t)
        as_, ss = model.alpha_sigma(s)
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
    model = T2V(a.model)
    out = {'threads': torch.get_num_threads(), 'torch': torch.__version__}
    with torch.no_grad():
        if a.check:
            c = read_safetensors(a.check)
            got = model.denoise(c['x'], c['t'], c['text'])
            out['max_abs_diff'] = float((got - c['out']).abs().max())
            te = model.encode(c['ids'])
            out['text_max_abs_diff'] = float((te - c['text']).abs().max())
        prompts = [f'a red circle moves left on a gray background'] * a.prompts
        sample(model, prompts[:2], 2, a.guidance)  # warm-up
        secs = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            sample(model, prompts, a.steps, a.guidance)
            secs.append(time.perf_counter() - t0)
    out['seconds'] = secs
    print(json.dumps(out))


if __name__ == '__main__':
    main()
