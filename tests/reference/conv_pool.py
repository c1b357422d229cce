"""Convolution and pooling, forward and backward, from torch.nn.functional.

Per case, conv_pool_<case>.safetensors holds (PyTorch layouts: NCHW activations, OIHW
weights)
  x         (N, C, H, W)      input
  weight    (OC, C/groups, K, K)  conv only
  bias      (OC,)             conv with bias only
  dy        (N, OC, OH, OW)   upstream gradient
  y         (N, OC, OH, OW)   output
  dx        (N, C, H, W)      gradient wrt x of sum(y * dy)
  dweight, dbias              gradients wrt the parameters (conv)
and its configuration in the metadata: kind (conv, max, avg, global_avg), K, stride, pad,
groups, bias. Inputs are float32; the maths runs in float64 on those exact values, so the
files hold the true answer rounded once.
"""
import torch
import torch.nn.functional as F

import _st

# name: N, C, H, W, OC, K, stride, pad, groups, bias
CONV_CASES = {
    "conv3x3": (2, 3, 8, 7, 5, 3, 1, 1, 1, True),
    "conv3x3_s2_g2": (2, 4, 9, 8, 6, 3, 2, 1, 2, False),
    "conv1x1": (2, 6, 5, 5, 4, 1, 1, 0, 1, True),
    "conv1x1_g3": (2, 6, 5, 4, 9, 1, 1, 0, 3, True),
    "conv5x5_s2_p2": (2, 3, 9, 10, 4, 5, 2, 2, 1, True),
    "conv3x3_wide": (3, 16, 12, 12, 32, 3, 1, 1, 1, True),
    "dw3x3": (2, 8, 7, 6, 8, 3, 1, 1, 8, False),
    "dw3x3_s2_m2": (2, 4, 9, 9, 8, 3, 2, 1, 4, True),
    "dw5x5_p2": (2, 5, 8, 7, 5, 5, 1, 2, 5, True),
}

# name: kind, N, C, H, W, K, stride, pad, integer-valued input (many ties)
POOL_CASES = {
    "maxpool2": ("max", 2, 3, 8, 7, 2, 2, 0, False),
    "maxpool3_s2_p1": ("max", 2, 4, 7, 9, 3, 2, 1, False),
    "maxpool3_ties": ("max", 2, 3, 6, 6, 3, 1, 1, True),
    "avgpool3_s2_p1": ("avg", 2, 3, 7, 8, 3, 2, 1, False),
    "avgpool2": ("avg", 2, 4, 6, 6, 2, 2, 0, False),
    "global_avgpool": ("global_avg", 2, 5, 4, 3, 0, 0, 0, False),
}


def _leaf(t):
    return t.double().requires_grad_(True)


def _conv_case(name, cfg, outdir):
    N, C, H, W, OC, K, stride, pad, groups, bias = cfg
    fan_in = C // groups * K * K
    bound = fan_in ** -0.5
    x = torch.randn(N, C, H, W)
    w = (torch.rand(OC, C // groups, K, K) * 2 - 1) * bound
    b = (torch.rand(OC) * 2 - 1) * bound if bias else None
    xd, wd = _leaf(x), _leaf(w)
    bd = _leaf(b) if bias else None
    y = F.conv2d(xd, wd, bd, stride=stride, padding=pad, groups=groups)
    dy = torch.randn(y.shape)
    (y * dy.double()).sum().backward()
    t = {"x": x, "weight": w, "dy": dy, "y": y.detach().float(), "dx": xd.grad.float(),
         "dweight": wd.grad.float()}
    if bias:
        t["bias"] = b
        t["dbias"] = bd.grad.float()
    meta = dict(kind="conv", K=K, stride=stride, pad=pad, groups=groups, bias=int(bias))
    _st.save(t, outdir / f"conv_pool_{name}.safetensors", meta)


def _pool_case(name, cfg, outdir):
    kind, N, C, H, W, K, stride, pad, ties = cfg
    x = torch.randint(-3, 4, (N, C, H, W)).float() if ties else torch.randn(N, C, H, W)
    xd = _leaf(x)
    if kind == "max":
        y = F.max_pool2d(xd, K, stride, pad)
    elif kind == "avg":
        y = F.avg_pool2d(xd, K, stride, pad, count_include_pad=True)
    else:
        y = F.adaptive_avg_pool2d(xd, 1)
    dy = torch.randn(y.shape)
    (y * dy.double()).sum().backward()
    t = {"x": x, "dy": dy, "y": y.detach().float(), "dx": xd.grad.float()}
    meta = dict(kind=kind, K=K, stride=stride, pad=pad, groups=1, bias=0)
    _st.save(t, outdir / f"conv_pool_{name}.safetensors", meta)


def generate(outdir):
    torch.manual_seed(1234)
    for name, cfg in CONV_CASES.items():
        _conv_case(name, cfg, outdir)
    for name, cfg in POOL_CASES.items():
        _pool_case(name, cfg, outdir)
