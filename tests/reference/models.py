"""Whole models from torchvision 0.14: MobileNetV2 and ResNet-18 (ImageNet stem and the CIFAR
stem: 3x3 stride-1 conv1, no max-pool), with seeded random weights and BatchNorm running
statistics calibrated on random batches (so they are neither 0/1 nor far from the data).

rampart's models normalise inside ((x - mean) / std is their first layer); the torch model is
wrapped in the same normalisation. The maths runs in float64 on the float32 weights and
inputs, so the files hold the true answer rounded once.

Files (PyTorch layouts: NCHW, OIHW; keys are torchvision's state_dict keys):
  models_<case>_weights.safetensors   the state_dict (float32, num_batches_tracked I64)
      resnet cases share models_resnet_body_weights (all but conv1.weight) and have their
      own models_<case>_conv1.safetensors
  models_<case>.safetensors
    x (B,3,H,W) in [0,1], labels (B,) I64
    eval_logits, eval_dx          eval mode: logits, d(mean CE)/dx
    train_logits, train_loss, train_dx      train mode (batch statistics, dropout off)
    grad.<key>                    d(mean CE)/d(parameter), train mode: the whole tensor, or
                                  (resnet, to keep files small) GRAD_SAMPLES elements at flat
                                  indices (i * numel) // n of the PyTorch layout, with
    gnorm.<key>                   the L2 norm of the whole gradient
    new.<key>                     running_mean / running_var / num_batches_tracked after the
                                  train-mode forward (momentum 0.1, unbiased variance)
    metadata: arch, width, num_classes, H, W, B, mean, std, keys (state_dict order, comma
    separated), params_1000 / params_200 (torchvision's parameter count at 1000 / 200
    classes), grad_samples (0: whole tensors), kink_margin (smallest distance of a ReLU /
    ReLU6 input from 0 or 6 in either pass, see randomize)
  models_counts.safetensors: metadata params.<arch>.<width>.<classes> and
    macs.<arch>.<width>.<H> (conv + linear multiply-adds for one H x H image, 1000 classes)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import _st

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
GRAD_SAMPLES = 256
SIZES = {"resnet18_cifar": (32, 64)}


class Normalized(nn.Module):
    """(x - mean) / std on NCHW input, then the model: what rampart's models do."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


def build(arch, num_classes, width=1.0):
    if arch == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=width)
    m = torchvision.models.resnet18(num_classes=num_classes)
    if arch == "resnet18_cifar":
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
        m.maxpool = nn.Identity()
    return m


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def count_macs(model, H, W):
    """Multiply-adds of every Conv2d and Linear for one H x W image."""
    total = [0]

    def conv_hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total[0] += out.numel() * (mod.in_channels // mod.groups) * k

    def linear_hook(mod, inp, out):
        total[0] += mod.in_features * mod.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, H, W))
    for h in hooks:
        h.remove()
    return total[0]


def randomize(model, H, W, beta, gamma):
    """BatchNorm weight U(gamma), bias U(beta), running statistics from random batches
    (cumulative average), a classifier that gives O(1) logits.

    Why these ranges: two float implementations of the same network differ by ~1e-6 in
    every activation, so a ReLU/ReLU6 input within ~1e-6 of a kink (0 or 6) may fall on
    different sides in rampart and PyTorch, and one such unit moves the input gradient by
    ~1/sqrt(units) (1% for a 4x4x192 layer). With ~10^6 units and BN outputs N(0, 1) there
    are always a few; with bias/weight >= 2 (and (6 - bias)/weight >= 2 for ReLU6) only
    ~0.2% of units are clipped and none is near a kink (case() also picks the input with the
    widest margin). Positive biases also keep channels alive: a depthwise conv of a channel
    that is dead for most of a batch has a batch variance << eps, which training-mode BN
    amplifies by up to 1/sqrt(eps)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand_like(m.weight) * (gamma[1] - gamma[0]) + gamma[0])
                m.bias.copy_(torch.rand_like(m.bias) * (beta[1] - beta[0]) + beta[0])
                m.momentum = None
                m.reset_running_stats()
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 1.0 / m.in_features ** 0.5)
                m.bias.normal_(0.0, 0.1)
        model.train()
        for _ in range(3):
            model((torch.rand(8, 3, H, W) - torch.tensor(MEAN).view(1, 3, 1, 1)) /
                  torch.tensor(STD).view(1, 3, 1, 1))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                m.num_batches_tracked.fill_(7)


def kink_margin(model, x):
    """Smallest distance of any ReLU/ReLU6 input from its kinks, eval and train mode
    (float32: its ~1e-6 errors do not matter against margins ~1e-4)."""
    net = Normalized(model)
    vals = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: vals.append(
        torch.minimum(inp[0].abs(), (inp[0] - 6).abs()) if isinstance(mod, nn.ReLU6) else inp[0].abs()))
        for m in net.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for train in (False, True):
            net.train(train)
            net(x)
    model.load_state_dict(saved)
    for h in hooks:
        h.remove()
    return min(v.min().item() for v in vals)


def _f(t):
    return t.detach().float()


def _sample(t):
    flat = t.detach().reshape(-1)
    n = min(GRAD_SAMPLES, flat.numel())
    idx = (torch.arange(n, dtype=torch.int64) * flat.numel()) // n
    return flat[idx].float()


def reference(model, x, labels, sample_grads):
    """Eval-mode logits and input gradient, then one train-mode pass (dropout off)."""
    net = Normalized(model).double()
    out = {}
    net.eval()
    xd = x.double().requires_grad_(True)
    logits = net(xd)
    F.cross_entropy(logits, labels).backward()
    out.update(eval_logits=_f(logits), eval_dx=_f(xd.grad))
    net.zero_grad()
    net.train()
    for m in net.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    xd = x.double().requires_grad_(True)
    logits = net(xd)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out.update(train_logits=_f(logits), train_loss=_f(loss), train_dx=_f(xd.grad))
    for name, p in model.named_parameters():
        out["grad." + name] = _sample(p.grad) if sample_grads else _f(p.grad)
        if sample_grads:
            out["gnorm." + name] = _f(p.grad.norm())
    for name, b in model.named_buffers():
        out["new." + name] = b.detach().clone() if b.dtype == torch.int64 else _f(b)
    return out


def case(outdir, name, model, arch, width, B, H, W, weights_files, sample_grads):
    """weights_files: [(filename, keys or None for all)]"""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for fname, keys in weights_files:
        _st.save({k: v for k, v in state.items() if keys is None or k in keys}, outdir / fname)
    best = None
    for _ in range(3):  # the input whose activations stay farthest from the kinks
        x = torch.rand(B, 3, H, W)
        margin = kink_margin(model, x)
        if best is None or margin > best[0]:
            best = (margin, x)
    margin, x = best
    labels = torch.randint(0, 10, (B,))
    t = {"x": x, "labels": labels}
    t.update(reference(model, x, labels, sample_grads))
    meta = {"arch": arch, "width": width, "num_classes": 10, "H": H, "W": W, "B": B,
            "mean": MEAN, "std": STD, "keys": ",".join(state.keys()),
            "params_1000": arch_counts(arch, width)["params.1000"],
            "params_200": arch_counts(arch, width)["params.200"],
            "grad_samples": GRAD_SAMPLES if sample_grads else 0, "kink_margin": margin}
    _st.save(t, outdir / f"models_{name}.safetensors", meta)


_COUNTS = {}


def arch_counts(arch, width):
    """Parameter counts at 1000, 200 and 10 classes and conv + linear multiply-adds at 64 and
    224 pixels (CIFAR stem: 32 and 64), from one torchvision model (building is slow)."""
    if (arch, width) not in _COUNTS:
        model = build(arch, 1000, width)
        n = count_params(model)
        fc_in = [m for m in model.modules() if isinstance(m, nn.Linear)][-1].in_features
        c = {f"params.{k}": n - (1000 - k) * (fc_in + 1) for k in (1000, 200, 10)}
        c.update({f"macs.{size}": count_macs(model, size, size) for size in SIZES.get(arch, (224, 64))})
        _COUNTS[(arch, width)] = c
    return _COUNTS[(arch, width)]


def counts(outdir):
    meta = {}
    for arch, width in [("mobilenet_v2", 1.0), ("mobilenet_v2", 0.5), ("mobilenet_v2", 0.35),
                        ("mobilenet_v2", 1.4), ("resnet18", 1.0), ("resnet18_cifar", 1.0)]:
        for what, v in arch_counts(arch, width).items():
            kind, n = what.split(".")
            meta[f"{kind}.{arch}.{width}.{n}"] = v
    _st.save({"unused": torch.zeros(1)}, outdir / "models_counts.safetensors", meta)


def generate(outdir):
    torch.manual_seed(4242)
    counts(outdir)
    # 64x64 (Tiny ImageNet's size) ends at 2x2: training-mode BatchNorm sees 16 values per
    # channel in the last blocks; at 32x32 it would see 4, badly conditioned.
    mnv2 = build("mobilenet_v2", 10, 0.5)
    randomize(mnv2, 64, 64, beta=(2.0, 4.0), gamma=(0.6, 1.0))
    case(outdir, "mobilenet_v2", mnv2, "mobilenet_v2", 0.5, 4, 64, 64,
         [("models_mobilenet_v2_weights.safetensors", None)], False)
    # The two ResNets share everything but conv1 (the CIFAR model takes the ImageNet one's
    # body, BatchNorm statistics included), so the big weights are stored once.
    resnet = build("resnet18", 10)
    randomize(resnet, 32, 32, beta=(1.0, 2.0), gamma=(0.3, 0.6))
    body = {k: v for k, v in resnet.state_dict().items() if k != "conv1.weight"}
    cifar = build("resnet18_cifar", 10)
    cifar.load_state_dict(body, strict=False)
    case(outdir, "resnet18", resnet, "resnet18", 1.0, 4, 32, 32,
         [("models_resnet_body_weights.safetensors", set(body)),
          ("models_resnet18_conv1.safetensors", {"conv1.weight"})], True)
    case(outdir, "resnet18_cifar", cifar, "resnet18_cifar", 1.0, 2, 16, 16,
         [("models_resnet18_cifar_conv1.safetensors", {"conv1.weight"})], True)
