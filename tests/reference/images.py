"""Reference for fitting images (src/data/image.c): PIL's bilinear resize of the shorter
side (antialiased when shrinking, as torchvision's Resize on a PIL image) and torchvision's
center_crop (offset round((R - H) / 2), half to even), for several sizes, aspects and both
channel counts."""
import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

import _st

CASES = [  # (name, source H, W, channels, target H, W)
    ("shrink_rgb", 37, 53, 3, 16, 16),
    ("shrink_tall_gray", 100, 7, 1, 13, 5),
    ("tiny_to_mnist", 64, 64, 3, 28, 28),
    ("grow_rgb", 9, 12, 3, 24, 32),
    ("grow_wide_gray", 5, 31, 1, 20, 20),
    ("photo_to_64", 150, 200, 3, 64, 64),
    ("crop_odd", 20, 23, 3, 20, 20),  # offset round(1.5) = 2
    ("crop_odd_gray", 27, 11, 1, 20, 11),  # offset round(3.5) = 4
]


def fit(img, H, W):
    sh, sw = img.shape[:2]
    if H * sw >= W * sh:
        RH, RW = H, max(W, sw * H // sh)
    else:
        RH, RW = max(H, sh * W // sw), W
    pil = Image.fromarray(img if img.shape[2] == 3 else img[:, :, 0])
    if (RH, RW) != (sh, sw):
        pil = pil.resize((RW, RH), Image.BILINEAR)
    out = np.asarray(TF.center_crop(pil, [H, W]))
    return out.reshape(H, W, -1)


def generate(outdir):
    rng = np.random.default_rng(7)
    tensors = {}
    for name, sh, sw, c, H, W in CASES:
        yy, xx = np.mgrid[0:sh, 0:sw]
        base = 128 + 90 * np.sin(xx[..., None] * 0.3 + yy[..., None] * 0.17 + np.arange(c))
        img = np.clip(base + rng.normal(0, 20, (sh, sw, c)), 0, 255).astype(np.uint8)
        tensors[name + ".x"] = torch.from_numpy(img.copy())
        tensors[name + ".y"] = torch.from_numpy(np.array(fit(img, H, W)))
    _st.save(tensors, outdir / "images.safetensors")
