# Exports a small PyTorch model with torch.onnx (opset 17, dynamic batch) for src/graph/onnx.test.ts,
# with a reference input and output. Run: /usr/bin/python3 src/graph/testdata/export_torch.py
import json
import os
import torch

torch.manual_seed(0)
here = os.path.dirname(os.path.abspath(__file__))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.ln = torch.nn.LayerNorm(16)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.conv(x))          # (N, 4, 4, 4)
        h = h.flatten(2).transpose(1, 2).reshape(x.shape[0], 4, 16)
        h = self.ln(h).mean(dim=1)
        return torch.softmax(self.fc(torch.tanh(h)), dim=-1)


net = Net().eval()
x = torch.randn(2, 3, 4, 4)
torch.onnx.export(net, (x,), os.path.join(here, 'torch-net.onnx'), opset_version=17, input_names=['x'],
                  output_names=['y'], dynamic_axes={'x': {0: 'batch'}, 'y': {0: 'batch'}})
with open(os.path.join(here, 'torch-net.json'), 'w') as f:
    json.dump({'x_shape': list(x.shape), 'x': x.flatten().tolist(), 'y': net(x).flatten().tolist()}, f)
