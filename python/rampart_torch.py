"""rampart checkpoints in PyTorch.

A rampart checkpoint is a safetensors file whose tensors carry PyTorch's names and
layouts (conv weights OIHW) and whose metadata describes the model:

    format "rampart-1", arch, num_classes, input "HxWxC", mean and std (JSON arrays),
    width (mobilenet_v2's multiplier; 1 for the others), class_names (JSON array, optional),
    and any further keys rampart was given (rp_model_set_meta: `rampart train` writes "recipe").

    import rampart_torch
    model = rampart_torch.load("model.safetensors")   # eval mode
    logits = model(x)        # x: (N, C, H, W) float32 in [0, 1]; normalisation is inside
    rampart_torch.save(model, "again.safetensors")   # rampart loads this back

Architectures: smallcnn and mlp as small modules here; mobilenet_v2, resnet18, resnet18_cifar,
resnet50, resnext50_32x4d, densenet121 and efficientnet_b0 as torchvision 0.14's modules
(state_dict keys are torchvision's), the stem conv reading C channels when C != 3 (as rampart
builds them: Fashion-MNIST's 28x28x1 too). Dropout and efficientnet_b0's stochastic depth are
off in eval mode, as in rampart's evaluation. Extra metadata keys are kept in
model.extra_metadata and written back by save.

Debian 12 has no safetensors package, so the format (u64 LE header length, JSON
header, contiguous little-endian data) is read and written here directly.
"""
import json
import struct

import torch
from torch import nn
import torch.nn.functional as F

FORMAT = "rampart-1"
# the metadata keys that describe the model (rp_model_set_meta refuses them as extra keys)
_OWN_KEYS = ("format", "arch", "num_classes", "input", "mean", "std", "width", "class_names")

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read_safetensors(path):
    """Returns ({name: tensor}, {metadata key: str}). Checks that offsets tile the data."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} exceeds file size {len(raw)}")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out, spans = {}, []
    for name, h in header.items():
        dtype = _DTYPES.get(h["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name}: unknown dtype {h['dtype']}")
        b, e = h["data_offsets"]
        spans.append((b, e, name))
        shape = list(h["shape"])
        if e > b:
            t = torch.frombuffer(bytearray(data[b:e]), dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        if t.numel() != (torch.Size(shape).numel()):
            raise ValueError(f"{path}: tensor {name}: shape {shape} does not match {e - b} bytes")
        out[name] = t.reshape(shape).clone()
    pos = 0
    for b, e, name in sorted(spans):
        if b != pos:
            raise ValueError(f"{path}: tensor {name} starts at {b}, expected {pos}")
        pos = e
    if pos != len(data):
        raise ValueError(f"{path}: tensors end at {pos}, data holds {len(data)} bytes")
    return out, meta


def write_safetensors(tensors, path, metadata=None):
    """tensors: {name: tensor} written in order; header padded with spaces to 8 bytes."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        blob = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


class _Normalized(nn.Module):
    """Holds the input size and (x - mean) / std; mean/std are not state_dict entries
    (they live in the checkpoint's metadata, as in rampart)."""

    def __init__(self, arch, num_classes, input_hwc, mean, std):
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.input_hwc = tuple(input_hwc)
        C = self.input_hwc[2]
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, C, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, C, 1, 1), persistent=False)
        self.class_names = None
        self.extra_metadata = {}  # metadata keys beyond the model's own, kept for save

    def normalize(self, x):
        return (x - self.mean) / self.std


class SmallCNN(_Normalized):
    """conv32-relu-maxpool, conv64-relu-maxpool, fc128-relu, fc: rampart's smallcnn."""

    def __init__(self, num_classes, input_hwc, mean, std):
        super().__init__("smallcnn", num_classes, input_hwc, mean, std)
        H, W, C = self.input_hwc
        self.conv1 = nn.Conv2d(C, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (H // 2 // 2) * (W // 2 // 2), 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.normalize(x)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class MLP(_Normalized):
    """flatten, fc256-relu, fc: rampart's mlp."""

    def __init__(self, num_classes, input_hwc, mean, std):
        super().__init__("mlp", num_classes, input_hwc, mean, std)
        H, W, C = self.input_hwc
        self.fc1 = nn.Linear(H * W * C, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = torch.flatten(self.normalize(x), 1)
        return self.fc2(F.relu(self.fc1(x)))


def _stem(old, C, mode):
    """old's conv (kernel, stride, padding) reading C channels instead of 3, initialised as the
    torchvision model initialises its convs (kaiming_normal_, fan_out or fan_in): rampart's
    builders take the stem's in_channels from the input, so C != 3 checkpoints fit only this."""
    conv = nn.Conv2d(C, old.out_channels, old.kernel_size, old.stride, old.padding, bias=old.bias is not None)
    nn.init.kaiming_normal_(conv.weight, mode=mode, nonlinearity="relu")
    return conv


class Torchvision(_Normalized):
    """torchvision 0.14's mobilenet_v2, resnet18, resnet50, resnext50_32x4d, densenet121 and
    efficientnet_b0 (and resnet18_cifar: 3x3 stride-1 stem, no max-pool) with rampart's
    normalisation in front. The torchvision modules are adopted as direct children, so
    state_dict keys are torchvision's (features.0.0.weight, layer1.0.conv1.weight, ...).
    With C != 3 input channels the stem conv (conv1, features.conv0, features.0.0) reads C
    channels, as rampart builds it. Dropout (mobilenet_v2, efficientnet_b0) and stochastic
    depth (efficientnet_b0) act in training mode only, as in rampart: load() returns eval mode."""

    def __init__(self, arch, num_classes, input_hwc, mean, std, width=1.0):
        super().__init__(arch, num_classes, input_hwc, mean, std)
        import torchvision
        C = self.input_hwc[2]
        self.width = width
        if arch != "mobilenet_v2" and width != 1.0:
            raise ValueError(f"model {arch} has no width multiplier (width {width} given)")
        models = torchvision.models
        if arch == "mobilenet_v2":
            net = models.mobilenet_v2(num_classes=num_classes, width_mult=width)
            if C != 3:
                net.features[0][0] = _stem(net.features[0][0], C, "fan_out")
        elif arch == "efficientnet_b0":
            net = models.efficientnet_b0(num_classes=num_classes)
            if C != 3:
                net.features[0][0] = _stem(net.features[0][0], C, "fan_out")
        elif arch == "densenet121":
            net = models.densenet121(num_classes=num_classes)
            if C != 3:
                net.features.conv0 = _stem(net.features.conv0, C, "fan_in")
        else:
            net = {"resnet18": models.resnet18, "resnet18_cifar": models.resnet18, "resnet50": models.resnet50,
                   "resnext50_32x4d": models.resnext50_32x4d}[arch](num_classes=num_classes)
            if arch == "resnet18_cifar":
                net.conv1 = _stem(nn.Conv2d(3, 64, 3, 1, 1, bias=False), C, "fan_out")
                net.maxpool = nn.Identity()
            elif C != 3:
                net.conv1 = _stem(net.conv1, C, "fan_out")
        for name, child in net.named_children():
            self.add_module(name, child)
        # reads self.features / self.conv1 / ...; DenseNet has no _forward_impl, its forward is it
        self._impl = getattr(type(net), "_forward_impl", type(net).forward)

    def forward(self, x):
        return self._impl(self, self.normalize(x))


ARCHS = {"smallcnn": SmallCNN, "mlp": MLP, "mobilenet_v2": Torchvision, "resnet18": Torchvision,
         "resnet18_cifar": Torchvision, "resnet50": Torchvision, "resnext50_32x4d": Torchvision,
         "densenet121": Torchvision, "efficientnet_b0": Torchvision}


def build(arch, num_classes, input_hwc, mean, std, width=1.0):
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; this module knows {sorted(ARCHS)}")
    if ARCHS[arch] is Torchvision:
        return Torchvision(arch, num_classes, input_hwc, mean, std, width)
    return ARCHS[arch](num_classes, input_hwc, mean, std)


def load(path):
    """The model a rampart checkpoint describes, weights loaded strictly, in eval mode."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: metadata format {meta.get('format')!r}, expected {FORMAT!r}")
    H, W, C = (int(v) for v in meta["input"].split("x"))
    model = build(meta["arch"], int(meta["num_classes"]), (H, W, C), json.loads(meta["mean"]),
                  json.loads(meta["std"]), float(meta.get("width", "1")))
    state = {k: v.to(torch.int64) if k.endswith("num_batches_tracked") else v.to(torch.float32)
             for k, v in tensors.items()}
    model.load_state_dict(state, strict=True)
    if "class_names" in meta:
        model.class_names = json.loads(meta["class_names"])
    model.extra_metadata = {k: v for k, v in meta.items() if k not in _OWN_KEYS}
    return model.eval()


def save(model, path, class_names=None):
    """Write a checkpoint rampart's rp_model_load reads."""
    H, W, C = model.input_hwc
    names = class_names if class_names is not None else model.class_names
    meta = {"format": FORMAT, "arch": model.arch, "num_classes": str(model.num_classes),
            "input": f"{H}x{W}x{C}",
            "mean": json.dumps([float(v) for v in model.mean.flatten()]),
            "std": json.dumps([float(v) for v in model.std.flatten()]),
            "width": repr(float(getattr(model, "width", 1.0)))}
    if names is not None:
        meta["class_names"] = json.dumps(list(names))
    for k, v in getattr(model, "extra_metadata", {}).items():
        if k not in meta:
            meta[k] = v
    write_safetensors(dict(model.state_dict()), path, meta)
