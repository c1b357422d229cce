"""The workloads of `rampart bench` in PyTorch: torchvision MobileNetV2 (or the small CNN),
random inputs in [0, 1], the model's own normalisation folded in as rampart does (a
first layer), median images/s over repetitions after warm-up. Prints one JSON line.

  eval    forward in evaluation mode (torch.no_grad)
  train   SGD momentum 0.9 step of cross-entropy
  advreg  NSL adversarial regularization: CE(x) + 0.2 CE(x_adv), x_adv = clip(x + eps
          sign(grad_x)) from the first backward (which also gives the clean parameter
          gradients), then the second forward/backward, then the SGD step
  pgd     PGD-10 L-inf in evaluation mode: random start, 10 x (forward, input gradient,
          signed step, projection) and a final forward; no early stop
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride, groups=1, act=True):
    layers = [torch.nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
              torch.nn.BatchNorm2d(cout)]
    return layers + [torch.nn.ReLU6(inplace=True)] if act else layers


class InvertedResidual(torch.nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = conv_bn(cin, hidden, 1, 1) if t != 1 else []
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden) + conv_bn(hidden, cout, 1, 1, act=False)
        self.conv = torch.nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


def mobilenet_v2(num_classes):
    """torchvision's MobileNetV2 (width 1.0), for interpreters without torchvision."""
    layers, cin = conv_bn(3, 32, 3, 2), 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += conv_bn(cin, 1280, 1, 1)
    return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Dropout(0.2), torch.nn.Linear(1280, num_classes))


def build(model, num_classes, channels):
    if model == "mobilenet_v2":
        if channels != 3:
            raise SystemExit("mobilenet_v2 takes 3 channels")
        try:
            import torchvision
            net = torchvision.models.mobilenet_v2(num_classes=num_classes)
        except ImportError:
            net = mobilenet_v2(num_classes)
    elif model == "smallcnn":
        net = torch.nn.Sequential(
            torch.nn.Conv2d(channels, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.LazyLinear(128), torch.nn.ReLU(), torch.nn.Linear(128, num_classes))
    elif model in ("resnet18", "resnet50", "resnext50_32x4d", "densenet121", "efficientnet_b0"):
        import torchvision  # the other backbones as torchvision builds them (rampart's are the same)
        if channels != 3:
            raise SystemExit(f"{model} takes 3 channels here")
        net = getattr(torchvision.models, model)(num_classes=num_classes)
    else:
        raise SystemExit(f"unknown model {model}")
    mean = torch.full((1, channels, 1, 1), 0.5)
    std = torch.full((1, channels, 1, 1), 0.25)
    return net, mean, std


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--num-classes", type=int, default=200)
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", default="train", choices=["train", "advreg", "pgd", "eval"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="steps per repetition (0: ~0.5 s)")
    ap.add_argument("--eps", type=float, default=0.001)
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net, mean, std = build(a.model, a.num_classes, a.channels)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    x = torch.rand(a.batch, a.channels, a.input_size, a.input_size).contiguous(memory_format=fmt)
    y = torch.randint(0, a.num_classes, (a.batch,))
    with torch.no_grad():
        net(((x - mean) / std))  # materialise lazy layers
    net = net.to(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def logits(inp):
        return net((inp - mean) / std)

    def step():
        if a.mode == "eval":
            net.eval()
            with torch.no_grad():
                logits(x)
        elif a.mode == "train":
            net.train()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(logits(x), y).backward()
            opt.step()
        elif a.mode == "advreg":
            net.train()
            opt.zero_grad(set_to_none=True)
            xr = x.clone().requires_grad_(True)
            F.cross_entropy(logits(xr), y).backward()
            xa = (x + a.eps * xr.grad.sign()).clamp(0, 1).detach()
            (0.2 * F.cross_entropy(logits(xa), y)).backward()
            opt.step()
        else:
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
            xa = (x + a.eps * (2 * torch.rand_like(x) - 1)).clamp(0, 1)
            for _ in range(10):
                xa.requires_grad_(True)
                g, = torch.autograd.grad(F.cross_entropy(logits(xa), y), xa)
                xa = torch.min(torch.max(xa.detach() + (2.5 * a.eps / 10) * g.sign(), x - a.eps), x + a.eps).clamp(0, 1)
            with torch.no_grad():
                logits(xa)
            for p in net.parameters():
                p.requires_grad_(True)

    def run(n):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        return time.perf_counter() - t0

    for _ in range(a.warmup):
        run(a.steps or 1)
    steps = a.steps
    if not steps:
        t = run(1)
        steps = 1 if t > 0.5 else int(0.5 / max(t, 1e-4)) + 1
    ips = [steps * a.batch / run(steps) for _ in range(a.repeat)]
    print(json.dumps({"impl": f"pytorch {torch.__version__}", "model": a.model, "mode": a.mode,
                      "batch": a.batch, "threads": a.threads, "channels_last": a.channels_last,
                      "images_per_s": statistics.median(ips), "images_per_s_min": min(ips),
                      "images_per_s_max": max(ips), "repeat": a.repeat, "steps_per_repeat": steps,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
