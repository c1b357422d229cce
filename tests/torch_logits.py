#!/usr/bin/python3
"""PyTorch side of the checkpoint interop test (tests/test_interop_ref.c).

    torch_logits.py CKPT IMAGES OUT [CKPT IMAGES OUT ...]
        load each rampart checkpoint with python/rampart_torch.py (strict), run it on
        IMAGES (safetensors, "x": (N, H, W, C) float32 in [0, 1]) and write OUT
        (safetensors, "logits": (N, K) float32).
    torch_logits.py export ARCH H W C K SEED FLOOR CKPT IMAGES OUT [export ...]
        build ARCH in PyTorch (seeded init), give its batch norms random affine parameters
        and IMAGES' statistics (variances + FLOOR) and its last linear layer wider weights
        (so that a wrong mapping of any tensor shows in the logits), write it as a rampart
        checkpoint CKPT with rampart_torch.save, and its eval-mode logits on IMAGES to OUT.
    Both forms mix in one call, so torch is imported once.

Run with Debian's python3 (torch 1.13).
"""
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "python"))
import rampart_torch  # noqa: E402


def logits(model, images_path, out_path):
    tensors, _ = rampart_torch.read_safetensors(images_path)
    x = tensors["x"].to(torch.float32).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    with torch.no_grad():
        y = model(x)
    rampart_torch.write_safetensors({"logits": y.contiguous()}, out_path)


def exercise(model, images_path, floor):
    """Fresh torchvision nets have batch norms that are the identity in eval mode, zero biases
    and a classifier drawn small. As test_interop_ref.c does to rampart's models: random BN
    weights and all biases, running statistics from one training-mode pass over the images
    (momentum 1; dropout and stochastic depth off) with floor added to the variances (why and
    how much: calibrate_bn there) and a wide last linear layer."""
    tensors, _ = rampart_torch.read_safetensors(images_path)
    x = tensors["x"].to(torch.float32).permute(0, 3, 1, 2).contiguous()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and name.endswith(".weight"):
                p.uniform_(0.5, 1.5)
            elif p.dim() == 1 and name.endswith(".bias"):
                p.uniform_(-0.25, 0.25)
        if bns:
            for bn in bns:
                bn.momentum = 1.0
            model.train()
            for m in model.modules():  # rampart's adapt-bn pass has them off too
                if m.__class__.__name__ in ("Dropout", "StochasticDepth"):
                    m.eval()
            model(x)
        for bn in bns:
            bn.momentum = 0.1
            bn.running_var += floor
        linears[-1].weight.uniform_(-0.5, 0.5)
    return model.eval()


def export(arch, H, W, C, K, seed, floor, ckpt, images, out):
    torch.manual_seed(seed)
    mean = [0.25 + 0.125 * c for c in range(C)]
    std = [0.3 + 0.0625 * c for c in range(C)]
    model = exercise(rampart_torch.build(arch, K, (H, W, C), mean, std), images, floor)
    rampart_torch.save(model, ckpt, class_names=[f"class {k}" for k in range(K)])
    logits(model, images, out)


def main(argv):
    torch.set_num_threads(1)
    i = 0
    while i < len(argv):
        if argv[i] == "export" and i + 11 <= len(argv):
            export(argv[i + 1], *map(int, argv[i + 2:i + 7]), float(argv[i + 7]), *argv[i + 8:i + 11])
            i += 11
        elif argv[i] != "export" and i + 3 <= len(argv):
            logits(rampart_torch.load(argv[i]), argv[i + 1], argv[i + 2])
            i += 3
        else:
            sys.exit(__doc__)
    if not argv:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
