#!/usr/bin/python3
"""PyTorch side of the checkpoint interop test (tests/test_interop_ref.c).

    torch_logits.py CKPT IMAGES OUT [CKPT IMAGES OUT ...]
        load each rampart checkpoint with python/rampart_torch.py (strict), run it on
        IMAGES (safetensors, "x": (N, H, W, C) float32 in [0, 1]) and write OUT
        (safetensors, "logits": (N, K) float32).
    torch_logits.py export ARCH H W C K SEED CKPT IMAGES OUT
        build ARCH in PyTorch (seeded init), write it as a rampart checkpoint CKPT with
        rampart_torch.save, and its logits on IMAGES to OUT.

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


def main(argv):
    torch.set_num_threads(1)
    if len(argv) == 10 and argv[0] == "export":
        arch, H, W, C, K, seed = argv[1], *map(int, argv[2:7])
        ckpt, images, out = argv[7:10]
        torch.manual_seed(seed)
        mean = [0.25 + 0.125 * c for c in range(C)]
        std = [0.3 + 0.0625 * c for c in range(C)]
        model = rampart_torch.build(arch, K, (H, W, C), mean, std).eval()
        rampart_torch.save(model, ckpt, class_names=[f"class {k}" for k in range(K)])
        logits(model, images, out)
        return
    if len(argv) == 0 or len(argv) % 3 != 0:
        sys.exit(__doc__)
    for i in range(0, len(argv), 3):
        logits(rampart_torch.load(argv[i]), argv[i + 1], argv[i + 2])


if __name__ == "__main__":
    main(sys.argv[1:])
