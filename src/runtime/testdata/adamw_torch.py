# Records a PyTorch AdamW trajectory (with clip_grad_norm_) for src/runtime/train.test.ts.
# Run: /usr/bin/python3 src/runtime/testdata/adamw_torch.py > src/runtime/testdata/adamw-torch.json
import json
import torch

torch.manual_seed(0)
N, D, H, O = 6, 5, 7, 3
l1 = torch.nn.Linear(D, H).double()
l2 = torch.nn.Linear(H, O).double()
model = torch.nn.Sequential(l1, torch.nn.Tanh(), l2).float()
cfg = dict(beta1=0.9, beta2=0.98, eps=1e-8, weight_decay=0.05, clip=0.5)
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(cfg['beta1'], cfg['beta2']), eps=cfg['eps'], weight_decay=cfg['weight_decay'])
# halo stores Linear weights as (in, out): transpose PyTorch's (out, in)
def export(m):
    return {
        'l1.weight': l1.weight.detach().t().contiguous(), 'l1.bias': l1.bias.detach(),
        'l2.weight': l2.weight.detach().t().contiguous(), 'l2.bias': l2.bias.detach(),
    }
init = {k: {'shape': list(v.shape), 'data': v.flatten().tolist()} for k, v in export(model).items()}
xs, ys, lrs, steps = [], [], [], []
for s in range(6):
    x = torch.randn(N, D)
    y = torch.randn(N, O)
    lr = [1e-2, 3e-2, 2e-2, 1e-2, 5e-3, 2e-2][s]
    for gparam in opt.param_groups:
        gparam['lr'] = lr
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg['clip'])
    opt.step()
    xs.append(x.flatten().tolist()); ys.append(y.flatten().tolist()); lrs.append(lr)
    steps.append({'loss': loss.item(), 'grad_norm': gn.item()})
final = {k: v.flatten().tolist() for k, v in export(model).items()}
print(json.dumps({'torch': torch.__version__, 'hidden': H, 'x_shape': [N, D], 'y_shape': [N, O], **cfg,
                  'init': init, 'x': xs, 'y': ys, 'lr': lrs, 'steps': steps, 'final': final}))
