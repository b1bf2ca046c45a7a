#!/usr/bin/python3
"""PyTorch peer of scripts/bench-dpo.ts: one Gran-DPO training step as halo-dpo runs it, in PyTorch CPU.
The policy (trainable) and the frozen reference are the built-in generator of a model folder
(scripts/torch_t2v.py, both from the folder's weights); per-row, per-patch errors are the model's
training loss w · mean over the patch of (prediction − target)² (for the x0-predicting halo-tiny-t2v:
w(t) = min(SNR + 1, 5), target x0; the batch carries both); the loss is Gran-DPO as src/halo/grandpo.ts computes it
(softplus(β/2 Δ_video) + λ · the a_p|s_p|-weighted mean of softplus(β_p/2 Δ_p)); the reference runs
under no_grad; backward, global-norm clipping (clip_grad_norm_), AdamW (β 0.9/0.99, eps 1e-8, no decay
for biases, norms, embeddings and positions, as buildDpoStep).

    /usr/bin/python3 scripts/bench-dpo.py --model DIR --batch FILE.safetensors [--threads 2] [--beta 2000]
        [--beta-patch B] [--lambda 1] [--mode gran|video|patch] [--lr 2e-5] [--clip 1] [--weight-decay 0]
        [--pool auto|matrix|reshape]

FILE holds the batch that the ONNX Runtime side feeds (xt, t, ids, target, w, pref, weight) and the patch
boxes [n, 6]. Prints a JSON line when ready, then reads commands on stdin, one JSON line per answer:
  check K   policy back to the base weights, fresh optimizer, K steps: loss, grad norm and metrics of each
  run K     K steps, seconds of each
  quit
"""
import argparse
import json
import re
import sys
import time

import torch
import torch.nn.functional as F

from torch_t2v import T2V, read_safetensors

# parameters without weight decay, as buildDpoStep's noDecay (src/halo/dpo-graph.ts)
NO_DECAY = re.compile(r'\.bias$|norm|\.ln|embed|pos')


def regular_grid(boxes, T, H, W):
    """(gt, gh, gw) when the boxes are an even grid of the video in time-major order, else None."""
    for gt in range(1, T + 1):
        if T % gt:
            continue
        for gh in range(1, H + 1):
            if H % gh or len(boxes) % (gt * gh):
                continue
            gw = len(boxes) // (gt * gh)
            if W % gw:
                continue
            pt, ph, pw = T // gt, H // gh, W // gw
            want = [[it * pt, (it + 1) * pt, iy * ph, (iy + 1) * ph, ix * pw, (ix + 1) * pw]
                    for it in range(gt) for iy in range(gh) for ix in range(gw)]
            if boxes == want:
                return gt, gh, gw
    return None


def patch_pool(boxes, T, H, W, mode):
    """A function [rows, T, H, W] → [rows, n]: the mean over each box. 'reshape' (an even grid: one
    reshape and mean, what one writes in PyTorch) or 'matrix' (a pooling matrix, as the ONNX graph)."""
    grid = regular_grid(boxes, T, H, W)
    if mode == 'reshape' and grid is None:
        raise SystemExit('--pool reshape: the patch boxes are not an even grid of the video')
    if mode in ('auto', 'reshape') and grid is not None:
        gt, gh, gw = grid
        pt, ph, pw = T // gt, H // gh, W // gw
        return 'reshape', lambda sq: sq.reshape(-1, gt, pt, gh, ph, gw, pw).mean((2, 4, 6)).reshape(-1, gt * gh * gw)
    m = torch.zeros(T * H * W, len(boxes))
    for p, (t0, t1, y0, y1, x0, x1) in enumerate(boxes):
        cell = torch.zeros(T, H, W)
        cell[t0:t1, y0:y1, x0:x1] = 1 / ((t1 - t0) * (y1 - y0) * (x1 - x0))
        m[:, p] = cell.reshape(-1)
    return 'matrix', lambda sq: sq.reshape(sq.shape[0], -1) @ m


def gran_dpo(pol, ref, pref, weight, beta, beta_p, lam, mode):
    """The loss and metrics of src/halo/grandpo.ts from per-row patch errors [2P, n] (winners, then losers)."""
    P = pref.shape[0]
    d_win = pol[:P] - ref[:P]
    d_lose = pol[P:] - ref[P:]
    delta_video = d_win.mean(1) - d_lose.mean(1)
    loss_video = F.softplus(beta / 2 * delta_video).mean()
    delta_patch = pref * (d_win - d_lose)
    a = weight * pref.abs()
    num = (a * F.softplus(beta_p / 2 * delta_patch)).sum(1)
    den = a.sum(1)
    has = (den > 0).to(den.dtype)
    n_pairs = has.sum()
    loss_patch = (num / den.clamp(min=1e-12) * has).sum() / n_pairs.clamp(min=1)
    loss = loss_video if mode == 'video' else loss_patch if mode == 'patch' else loss_video + lam * loss_patch
    with torch.no_grad():
        non_tie = pref.abs()
        n_non_tie = non_tie.sum().clamp(min=1)
        metrics = {
            'loss_video': loss_video,
            'loss_patch': loss_patch,
            'acc_video': (delta_video < 0).float().mean(),
            'acc_patch': ((delta_patch < 0).float() * non_tie).sum() / n_non_tie,
            'margin_video': (-beta / 2 * delta_video).mean(),
            'margin_patch': (-beta_p / 2 * delta_patch * non_tie).sum() / n_non_tie,
            'patch_pairs': n_pairs,
        }
    return loss, metrics


class DpoStep:
    def __init__(self, model, batch, a):
        self.model = model
        self.a = a
        self.b = {k: batch[k] for k in ('xt', 't', 'ids', 'target', 'w', 'pref', 'weight')}
        T, H, W = model.video['frames'], model.video['height'], model.video['width']
        self.pool_kind, self.pool = patch_pool(batch['boxes'].tolist(), T, H, W, a.pool)
        self.policy = {k: v.clone().requires_grad_(True) for k, v in model.w.items()}
        self.params = list(self.policy.values())
        self.reset()

    def reset(self):
        """Policy back to the base weights, fresh AdamW state."""
        with torch.no_grad():
            for k, p in self.policy.items():
                p.copy_(self.model.w[k])
        decay = [p for k, p in self.policy.items() if not NO_DECAY.search(k)]
        no_decay = [p for k, p in self.policy.items() if NO_DECAY.search(k)]
        groups = [{'params': decay, 'weight_decay': self.a.weight_decay}, {'params': no_decay, 'weight_decay': 0.0}]
        self.opt = torch.optim.AdamW(groups, lr=self.a.lr, betas=(0.9, 0.99), eps=1e-8, foreach=self.a.foreach)

    def errors(self, w):
        b = self.b
        pred = self.model.x0(b['xt'], b['t'], b['ids'], w)
        sq = (pred - b['target']).square().mean(1)  # mean over channels: [rows, T, H, W]
        return self.pool(sq) * b['w'][:, None]

    def step(self):
        a = self.a
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            ref = self.errors(self.model.w)
        pol = self.errors(self.policy)
        loss, metrics = gran_dpo(pol, ref, self.b['pref'], self.b['weight'], a.beta, a.beta_patch, a.lam, a.mode)
        loss.backward()
        if a.clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.params, a.clip)
        else:
            norm = torch.stack([p.grad.norm() for p in self.params if p.grad is not None]).norm()
        self.opt.step()
        return loss.item(), norm.item(), metrics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--batch', required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--beta', type=float, default=2000)
    ap.add_argument('--beta-patch', type=float)
    ap.add_argument('--lambda', dest='lam', type=float, default=1)
    ap.add_argument('--mode', choices=['gran', 'video', 'patch'], default='gran')
    ap.add_argument('--lr', type=float, default=2e-5)
    ap.add_argument('--clip', type=float, default=1)
    ap.add_argument('--weight-decay', type=float, default=0)
    ap.add_argument('--pool', choices=['auto', 'matrix', 'reshape'], default='auto')
    ap.add_argument('--foreach', action='store_true', help="AdamW's multi-tensor implementation")
    a = ap.parse_args()
    if a.beta_patch is None:
        a.beta_patch = a.beta
    torch.set_num_threads(a.threads)
    model = T2V(a.model)
    step = DpoStep(model, read_safetensors(a.batch), a)
    n_params = sum(p.numel() for p in step.params)
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'params': n_params, 'pool': step.pool_kind}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == 'check':
            step.reset()
            steps = []
            for _ in range(int(cmd[1])):
                loss, norm, metrics = step.step()
                steps.append({'loss': loss, 'grad_norm': norm, **{k: float(v) for k, v in metrics.items()}})
            print(json.dumps({'steps': steps}), flush=True)
        elif cmd[0] == 'run':
            times = []
            for _ in range(int(cmd[1])):
                t0 = time.perf_counter()
                step.step()
                times.append(time.perf_counter() - t0)
            print(json.dumps({'times': times}), flush=True)
        elif cmd[0] == 'quit':
            break


if __name__ == '__main__':
    main()
