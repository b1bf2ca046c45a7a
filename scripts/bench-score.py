# PyTorch peer of scripts/bench-score.ts: halo-tiny-rm (src/models/reward-graph.ts) written in
# PyTorch, with the weights of a model folder (weights.safetensors, read without the safetensors
# package), scoring the same inputs. Args: model folder, inputs file (written by the bench: header
# JSON line {"batch","frames","height","width","words"} then float32 video and int64 ids), threads.
# Driven over stdin: "check" prints {"video": [...], "patch_head": [...]} (first outputs, to compare);
# "run K" times K forward passes and prints {"times": [seconds...]}; "quit" ends.
import json
import math
import sys
import time

import numpy as np
import torch

model_dir, inputs_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
torch.set_grad_enabled(False)

DTYPES = {"F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(buf[base + a : base + b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


manifest = json.load(open(f"{model_dir}/manifest.json"))
cfg = manifest["reward"]["network"]["config"]
grid = manifest["reward"]["grid"]
video_spec = manifest["video"]
T, H, W = video_spec["frames"], video_spec["height"], video_spec["width"]
D, DEPTH, HEADS = cfg["dim"], cfg["depth"], cfg["heads"]
P = {k: v for k, v in read_safetensors(f"{model_dir}/weights.safetensors").items()}

with open(inputs_file, "rb") as f:
    head = json.loads(f.readline())
    rest = f.read()
B, L = head["batch"], head["words"]
nv = B * T * H * W * 3
video = torch.from_numpy(np.frombuffer(rest[: nv * 4], dtype=np.float32).reshape(B, T, H, W, 3).copy())
ids = torch.from_numpy(np.frombuffer(rest[nv * 4 : nv * 4 + B * L * 8], dtype=np.int64).reshape(B, L).copy())


def linear(x, name):
    return x @ P[f"{name}.weight"] + P[f"{name}.bias"]


def ln(x, name):
    return torch.nn.functional.layer_norm(x, (D,), P[f"{name}.scale"], P[f"{name}.bias"], 1e-5)


def forward(video, ids):
    b = video.shape[0]
    gt, gh, gw = grid
    pt, ph, pw = T // gt, H // gh, W // gw
    n = gt * gh * gw
    x = (video - 0.5) * 2
    x = x.reshape(b, gt, pt, gh, ph, gw, pw, 3).permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, n, pt * ph * pw * 3)
    if cfg.get("embed_hidden", 0):
        x = linear(torch.nn.functional.gelu(linear(x, "patch_embed.in")), "patch_embed.out")
    else:
        x = linear(x, "patch_embed")
    patches = x + P["patch_pos"]
    words = P["word_embed"][ids] + P["word_pos"]
    cls = P["video_token"].expand(b, 1, D)
    h = torch.cat([cls, words, patches], 1)
    s = h.shape[1]
    bias = torch.cat([torch.zeros(b, 1), (ids == 0).float() * -1e4, torch.zeros(b, n)], 1).view(b, 1, 1, s)
    dh = D // HEADS
    for i in range(DEPTH):
        name = f"block{i}"
        y = ln(h, f"{name}.ln1")
        q, k, v = (linear(y, f"{name}.attn.{r}").view(b, s, HEADS, dh).transpose(1, 2) for r in "qkv")
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + bias, -1)
        a = (att @ v).transpose(1, 2).reshape(b, s, D)
        h = h + linear(a, f"{name}.attn.out")
        m = linear(torch.nn.functional.gelu(linear(ln(h, f"{name}.ln2"), f"{name}.mlp.in")), f"{name}.mlp.out")
        h = h + m
    h = ln(h, "ln_final")
    first, rest_ = h[:, 0], h[:, 1 + L :]
    score = lambda z, name: 1 + 3 * torch.sigmoid(linear(ln(z, f"{name}.ln"), name))
    return score(first, "video_head"), score(rest_, "patch_head")


forward(video, ids)
print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "check":
        v, p = forward(video, ids)
        print(json.dumps({"video": v.flatten().tolist(), "patch": p.flatten().tolist()}), flush=True)
    elif cmd[0] == "run":
        times = []
        for _ in range(int(cmd[1])):
            t0 = time.perf_counter()
            forward(video, ids)
            times.append(time.perf_counter() - t0)
        print(json.dumps({"times": times}), flush=True)
    elif cmd[0] == "quit":
        break
