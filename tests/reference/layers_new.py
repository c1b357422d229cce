"""The layers of the newer backbones, from torch.nn and torchvision.ops (0.14): SiLU, Sigmoid,
torchvision's SqueezeExcitation with SiLU (global average pool, 1x1 convs on 1x1 maps,
channel-wise multiply), concatenation along channels (torch.cat), grouped 3x3 convolution
(ResNeXt's groups=32) and StochasticDepth (mode "row").

Per case, layers_new_<case>.safetensors holds (PyTorch layouts: NCHW activations, OIHW
weights):
  x, dy, y, dx      input, upstream gradient, output, gradient of sum(y * dy) wrt x
  <param>           every parameter under its module name (fc1.weight, ...)
  grad.<param>      its gradient
and the configuration in the metadata. Inputs and parameters are float32; the maths runs in
float64 on those exact values (the files hold the true answer rounded once), except
stochastic depth, which runs in float32 as torchvision does (its file holds one training
output, y_train, drawn from torch's generator: the C test checks the per-sample scaling, not
the draw).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import SqueezeExcitation, StochasticDepth

import _st


def _f(t):
    return t.detach().float()


def _run(outdir, name, module, x, meta=None):
    """module in float64 on x; saves x, dy, y, dx and every parameter with its gradient."""
    params = {k: v.detach().clone() for k, v in module.named_parameters()}
    module = module.double()
    xd = x.double().requires_grad_(True)
    y = module(xd)
    dy = torch.randn(y.shape)
    (y * dy.double()).sum().backward()
    t = {"x": x, "dy": dy, "y": _f(y), "dx": _f(xd.grad)}
    for k, p in module.named_parameters():
        t[k] = params[k].float()
        t["grad." + k] = _f(p.grad)
    _st.save(t, outdir / f"layers_new_{name}.safetensors", meta)


class _Cat(nn.Module):
    """torch.cat([x, a(x), b(x)], 1): channel order of the concatenation"""

    def __init__(self, C):
        super().__init__()
        self.a = nn.Conv2d(C, 3, 1)
        self.b = nn.Conv2d(C, 2, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.a(x), self.b(x)], 1)


class _Conv(nn.Module):
    """one conv, named "conv" (its parameter: conv.weight)"""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(*args, **kwargs)

    def forward(self, x):
        return self.conv(x)


def _stochastic_depth(outdir, name, N, C, H, W, p):
    x = torch.randn(N, C, H, W)
    sd = StochasticDepth(p, "row")
    sd.train()
    y_train = sd(x)
    sd.eval()
    y_eval = sd(x)
    _st.save({"x": x, "y_train": y_train, "y_eval": y_eval}, outdir / f"layers_new_{name}.safetensors",
             {"p": p})


def generate(outdir):
    torch.manual_seed(1717)
    _run(outdir, "silu", nn.SiLU(), torch.randn(2, 3, 4, 5) * 3)
    _run(outdir, "sigmoid", nn.Sigmoid(), torch.randn(2, 3, 4, 5) * 3)
    # EfficientNet's: squeeze channels = input channels of the block / 4, SiLU inside
    _run(outdir, "se", SqueezeExcitation(8, 2, activation=nn.SiLU), torch.randn(2, 8, 5, 5),
         {"C": 8, "squeeze": 2})
    _run(outdir, "cat", _Cat(4), torch.randn(2, 4, 5, 6), {"C": 4})
    _run(outdir, "gconv_g32", _Conv(64, 64, 3, 1, 1, groups=32, bias=False), torch.randn(2, 64, 6, 6),
         {"OC": 64, "stride": 1, "groups": 32})
    _run(outdir, "gconv_g32_s2", _Conv(128, 128, 3, 2, 1, groups=32, bias=False), torch.randn(2, 128, 7, 7),
         {"OC": 128, "stride": 2, "groups": 32})
    _stochastic_depth(outdir, "sdepth", 64, 3, 2, 2, 0.2)
