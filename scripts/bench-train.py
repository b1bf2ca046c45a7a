# PyTorch peer of scripts/bench-train.ts: the same pre-norm transformer block, MSE loss, AdamW step.
# Driven over stdin: "run K" times K steps and prints one JSON line {"times": [seconds per step…]}.
import json
import sys
import time

import torch

B, T, D, H, M = (int(a) for a in sys.argv[1:6])
threads = int(sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D)
        self.qkv = torch.nn.Linear(D, 3 * D)
        self.proj = torch.nn.Linear(D, D)
        self.ln2 = torch.nn.LayerNorm(D)
        self.fc1 = torch.nn.Linear(D, M)
        self.fc2 = torch.nn.Linear(M, D)

    def forward(self, x):
        h = self.ln1(x)
        q, k, v = self.qkv(h).split(D, dim=-1)
        dh = D // H
        q = (q * dh ** -0.5).view(B, T, H, dh).transpose(1, 2)
        k = k.view(B, T, H, dh).transpose(1, 2)
        v = v.view(B, T, H, dh).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        a = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(a)
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))


model = Block()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
x = torch.randn(B, T, D)
y = torch.randn(B, T, D)


def step():
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(3):
    step()
print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "run":
        times = []
        for _ in range(int(cmd[1])):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        print(json.dumps({"times": times}), flush=True)
    elif cmd[0] == "quit":
        break
