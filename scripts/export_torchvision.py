#!/usr/bin/python3
"""Save a torchvision MobileNetV2, ResNet-18, ResNet-50, ResNeXt-50 32x4d or DenseNet-121
state_dict as safetensors, with torchvision's key names and PyTorch layouts, for `rampart train
--init FILE` (rampart's mobilenet_v2, resnet18, resnet18_cifar, resnet50, resnext50_32x4d and
densenet121 use the same keys; a classifier of another size is re-initialised). DenseNet files
saved before torchvision renamed "norm.1" to "norm1" (its published ImageNet weights) are
renamed here as torchvision's own loader does.

Nothing is downloaded. The weights come from, in this order:
  --weights FILE   a .pth file holding a state_dict (or {"state_dict": ...} / {"model": ...});
  --pretrained     torchvision's ImageNet weights if they are already in torch's hub cache
                   ($TORCH_HOME/hub/checkpoints, e.g. mobilenet_v2-7ebf99e0.pth); fails otherwise;
  neither          torchvision's own random initialisation (seeded with --seed).

Examples (Debian's python3 has torch 1.13 and torchvision 0.14):
  /usr/bin/python3 scripts/export_torchvision.py mobilenet_v2 mnv2.safetensors --pretrained
  /usr/bin/python3 scripts/export_torchvision.py resnet18 r18.safetensors --weights resnet18-f37072fd.pth

rampart normalises inside the model: ImageNet weights expect mean (0.485, 0.456, 0.406) and
std (0.229, 0.224, 0.225) on [0, 1] pixels (written to the file's metadata for reference).
"""
import argparse
import json
import os
import re
import struct
import sys

import torch
import torch.nn as nn
import torchvision

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
DTYPES = {torch.float32: "F32", torch.int64: "I64"}


ARCHS = ["mobilenet_v2", "resnet18", "resnet18_cifar", "resnet50", "resnext50_32x4d", "densenet121"]


def build(arch, num_classes, width):
    if arch == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=width)
    if arch in ("resnet50", "resnext50_32x4d", "densenet121"):
        return getattr(torchvision.models, arch)(num_classes=num_classes)
    model = torchvision.models.resnet18(num_classes=num_classes)
    if arch == "resnet18_cifar":  # rampart's CIFAR stem: 3x3 stride-1 conv1, no max-pool
        model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        model.maxpool = nn.Identity()
    return model


def cached_pretrained(arch, width):
    """Path of torchvision's ImageNet weights in torch's hub cache, or exit with where we looked."""
    if arch == "mobilenet_v2" and width == 1.0:
        enums = [torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V2,
                 torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1]
    elif arch == "resnet18":
        enums = [torchvision.models.ResNet18_Weights.IMAGENET1K_V1]
    elif arch == "resnet50":
        enums = [torchvision.models.ResNet50_Weights.IMAGENET1K_V2, torchvision.models.ResNet50_Weights.IMAGENET1K_V1]
    elif arch == "resnext50_32x4d":
        enums = [torchvision.models.ResNeXt50_32X4D_Weights.IMAGENET1K_V2,
                 torchvision.models.ResNeXt50_32X4D_Weights.IMAGENET1K_V1]
    elif arch == "densenet121":
        enums = [torchvision.models.DenseNet121_Weights.IMAGENET1K_V1]
    else:
        sys.exit(f"export_torchvision: torchvision has no pretrained {arch} at width {width}")
    folder = os.path.join(torch.hub.get_dir(), "checkpoints")
    paths = [os.path.join(folder, os.path.basename(w.url)) for w in enums]
    for p in paths:
        if os.path.exists(p):
            return p
    sys.exit("export_torchvision: no pretrained weights found (this script never downloads); looked "
             "for " + ", ".join(paths) + ". Download one of " + ", ".join(w.url for w in enums) +
             " yourself and pass it with --weights.")


def read_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        sys.exit(f"export_torchvision: {path} does not hold a state_dict")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}
    # torchvision's densenet._load_state_dict: "...denselayerN.norm.1.weight" -> "...norm1.weight"
    old = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")
    return {(lambda m: m.group(1) + m.group(2) if m else k)(old.match(k)): v for k, v in sd.items()}


def save_safetensors(tensors, path, metadata):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype not in DTYPES:
            t = t.float()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("arch", choices=ARCHS)
    ap.add_argument("out", help="output .safetensors file")
    ap.add_argument("--weights", help="a local .pth state_dict to convert")
    ap.add_argument("--pretrained", action="store_true",
                    help="torchvision's ImageNet weights from torch's hub cache (never downloaded)")
    ap.add_argument("--num-classes", type=int, default=1000, help="classifier outputs (default: 1000)")
    ap.add_argument("--width", type=float, default=1.0, help="mobilenet_v2 width multiplier (default: 1.0)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random initialisation (default: 0)")
    a = ap.parse_args()
    if a.width != 1.0 and a.arch != "mobilenet_v2":
        sys.exit("export_torchvision: --width applies to mobilenet_v2 only")
    torch.manual_seed(a.seed)
    model = build(a.arch, a.num_classes, a.width)
    source = f"torchvision {torchvision.__version__} random init, seed {a.seed}"
    path = a.weights or (cached_pretrained(a.arch, a.width) if a.pretrained else None)
    if path:
        try:
            model.load_state_dict(read_state_dict(path), strict=True)
        except RuntimeError as e:
            sys.exit(f"export_torchvision: {path} does not fit {a.arch} with {a.num_classes} classes "
                     f"(pass --num-classes to match the file): {e}")
        source = os.path.basename(path)
    save_safetensors(model.state_dict(), a.out,
                     {"arch": a.arch, "width": a.width, "num_classes": a.num_classes, "source": source,
                      "imagenet_mean": IMAGENET_MEAN, "imagenet_std": IMAGENET_STD})
    n = sum(p.numel() for p in model.parameters())
    print(f"{a.out}: {a.arch}, {len(model.state_dict())} tensors, {n:,} parameters, from {source}")


if __name__ == "__main__":
    main()
