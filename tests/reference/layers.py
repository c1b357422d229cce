"""Linear, flatten + linear, BatchNorm2d (train and eval), ReLU, ReLU6, Normalize, and the
losses (cross-entropy with/without label smoothing, KL batchmean), forward and backward,
from torch.nn / torch.nn.functional.

Per case, layers_<case>.safetensors holds (PyTorch layouts: NCHW activations):
  x, dy, y, dx           input, upstream gradient, output, gradient of sum(y * dy) wrt x
  weight, bias           parameters (where the layer has them) and dweight, dbias
  running_mean, running_var                BatchNorm statistics before the forward
  new_running_mean, new_running_var, num_batches_tracked (I64)   after it
  mean, std              Normalize
  logits, labels (I64), loss (scalar), dlogits      cross-entropy (mean over the batch)
  p, q, loss, dp, dq     KL(softmax(p) || softmax(q)), batchmean, as TRADES uses it
and its configuration in the metadata. Dropout is left out (its mask is random).
Inputs are float32; the maths runs in float64 on those exact values, so the files hold
the true answer rounded once.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

import _st


def _leaf(t):
    return t.double().requires_grad_(True)


def _f(t):
    return t.detach().float()


def _linear(outdir, name, N, IN, OUT, bias, image=None):
    """image=(C, H, W): x is NCHW and flattened in PyTorch's order before the linear."""
    shape = (N,) + image if image else (N, IN)
    x = torch.randn(shape)
    bound = IN ** -0.5
    w = (torch.rand(OUT, IN) * 2 - 1) * bound
    b = (torch.rand(OUT) * 2 - 1) * bound
    xd, wd, bd = _leaf(x), _leaf(w), _leaf(b)
    y = F.linear(torch.flatten(xd, 1), wd, bd if bias else None)
    dy = torch.randn(y.shape)
    (y * dy.double()).sum().backward()
    t = {"x": x, "weight": w, "dy": dy, "y": _f(y), "dx": _f(xd.grad), "dweight": _f(wd.grad)}
    if bias:
        t.update(bias=b, dbias=_f(bd.grad))
    _st.save(t, outdir / f"layers_{name}.safetensors", {"bias": int(bias), "out": OUT})


def _batchnorm(outdir, name, N, C, H, W, train, eps=1e-5, momentum=0.1):
    x = torch.randn(N, C, H, W) * 1.5 + torch.linspace(-1, 2, C).view(1, C, 1, 1)
    w = torch.rand(C) + 0.5
    b = torch.randn(C) * 0.5
    rm = torch.randn(C) * 0.3
    rv = torch.rand(C) + 0.5
    bn = nn.BatchNorm2d(C, eps=eps, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(w)
        bn.bias.copy_(b)
        bn.running_mean.copy_(rm)
        bn.running_var.copy_(rv)
        bn.num_batches_tracked.fill_(3)
    bn.train(train)
    xd = _leaf(x)
    y = bn(xd)
    dy = torch.randn(y.shape)
    (y * dy.double()).sum().backward()
    _st.save({"x": x, "weight": w, "bias": b, "running_mean": rm, "running_var": rv, "dy": dy,
              "y": _f(y), "dx": _f(xd.grad), "dweight": _f(bn.weight.grad),
              "dbias": _f(bn.bias.grad), "new_running_mean": _f(bn.running_mean),
              "new_running_var": _f(bn.running_var),
              "num_batches_tracked": bn.num_batches_tracked.clone()},
             outdir / f"layers_{name}.safetensors",
             {"train": int(train), "eps": eps, "momentum": momentum, "num_batches_before": 3})


def _elementwise(outdir, name, x, fn, extra=None):
    xd = _leaf(x)
    y = fn(xd)
    dy = torch.randn(y.shape)
    (y * dy.double()).sum().backward()
    t = {"x": x, "dy": dy, "y": _f(y), "dx": _f(xd.grad)}
    t.update(extra or {})
    _st.save(t, outdir / f"layers_{name}.safetensors")


def _away_from(x, kinks, gap=1e-2):
    """Move values off the kinks, where the derivative is not defined."""
    for k in kinks:
        near = (x - k).abs() < gap
        x = torch.where(near, x + 2 * gap, x)
    return x


def _xent(outdir, name, B, K, smoothing):
    logits = torch.randn(B, K) * 3
    labels = torch.randint(0, K, (B,))
    ld = _leaf(logits)
    loss = F.cross_entropy(ld, labels, label_smoothing=smoothing)
    loss.backward()
    _st.save({"logits": logits, "labels": labels, "loss": _f(loss), "dlogits": _f(ld.grad)},
             outdir / f"layers_{name}.safetensors", {"smoothing": smoothing})


def _kl(outdir, name, B, K):
    p = torch.randn(B, K) * 2
    q = p + torch.randn(B, K)
    pd, qd = _leaf(p), _leaf(q)
    loss = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(qd, dim=1), F.softmax(pd, dim=1))
    loss.backward()
    _st.save({"p": p, "q": q, "loss": _f(loss), "dp": _f(pd.grad), "dq": _f(qd.grad)},
             outdir / f"layers_{name}.safetensors")


def generate(outdir):
    torch.manual_seed(1234)
    _linear(outdir, "linear", 4, 12, 5, True)
    _linear(outdir, "linear_nobias", 3, 10, 6, False)
    _linear(outdir, "flatten_linear", 2, 60, 7, True, image=(3, 4, 5))
    _batchnorm(outdir, "bn_train", 4, 3, 5, 6, True)
    _batchnorm(outdir, "bn_eval", 4, 3, 5, 6, False)
    _batchnorm(outdir, "bn_train_1x1", 8, 16, 1, 1, True)  # after a global pool: N = B
    _elementwise(outdir, "relu", _away_from(torch.randn(2, 3, 4, 5) * 2, [0.0]), F.relu)
    _elementwise(outdir, "relu6", _away_from(torch.rand(2, 3, 4, 5) * 12 - 3, [0.0, 6.0]),
                 F.relu6)
    mean, std = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2470, 0.2435, 0.2616])
    _elementwise(outdir, "normalize", torch.rand(2, 3, 4, 5),
                 lambda x: (x - mean.double().view(1, 3, 1, 1)) / std.double().view(1, 3, 1, 1),
                 {"mean": mean, "std": std})
    _xent(outdir, "xent", 8, 10, 0.0)
    _xent(outdir, "xent_smooth", 8, 10, 0.1)
    _kl(outdir, "kl", 8, 10)
