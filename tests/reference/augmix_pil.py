"""Reference for AugMix's operations (src/data/augmix.c): the paper's ops
(google-research/augmix, augmentations.py) on PIL images at fixed levels and signs, the
level -> magnitude mapping as the paper's int_parameter / float_parameter, and the image
size in place of its IMAGE_SIZE = 32. Images: a 28x28 gray digit-like image and two 32x32
RGB images (smooth + noise, and a low-contrast one)."""
import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

import _st

# (level on the paper's 0..10 scale, sign): exactly representable in float32
LEVELS = [(0.5, 1), (2.75, -1), (3.0, 1), (7.5, -1), (10.0, 1)]
OPS = ["autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x", "shear_y",
       "translate_x", "translate_y", "color", "contrast", "brightness", "sharpness"]


def int_parameter(level, maxval):
    return int(level * maxval / 10)


def float_parameter(level, maxval):
    return float(level) * maxval / 10.


def apply(op, img, level, sign):
    w, h = img.size
    if op == "autocontrast":
        return ImageOps.autocontrast(img)
    if op == "equalize":
        return ImageOps.equalize(img)
    if op == "posterize":
        return ImageOps.posterize(img, 4 - int_parameter(level, 4))
    if op == "solarize":
        return ImageOps.solarize(img, 256 - int_parameter(level, 256))
    if op == "rotate":
        return img.rotate(sign * int_parameter(level, 30), resample=Image.BILINEAR)
    if op in ("shear_x", "shear_y"):
        s = sign * float_parameter(level, 0.3)
        data = (1, s, 0, 0, 1, 0) if op == "shear_x" else (1, 0, 0, s, 1, 0)
        return img.transform((w, h), Image.AFFINE, data, resample=Image.BILINEAR)
    if op == "translate_x":
        t = sign * int_parameter(level, w / 3)
        return img.transform((w, h), Image.AFFINE, (1, 0, t, 0, 1, 0), resample=Image.BILINEAR)
    if op == "translate_y":
        t = sign * int_parameter(level, h / 3)
        return img.transform((w, h), Image.AFFINE, (1, 0, 0, 0, 1, t), resample=Image.BILINEAR)
    f = float_parameter(level, 1.8) + 0.1
    enh = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast,
           "brightness": ImageEnhance.Brightness, "sharpness": ImageEnhance.Sharpness}[op]
    return enh(img).enhance(f)


def images():
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:28, 0:28]
    # a bright ring stroke on black (MNIST-like) with a little noise
    r = np.hypot(yy - 13.5, (xx - 13.5) * 1.4)
    digit = np.clip(255 * np.exp(-((r - 8) ** 2) / 6) + rng.normal(0, 6, (28, 28)), 0, 255)
    gray = digit.astype(np.uint8)[..., None]
    yy, xx = np.mgrid[0:32, 0:32]
    base = 128 + 90 * np.sin(xx[..., None] * 0.31 + yy[..., None] * 0.19 + np.arange(3) * 1.3)
    rgb = np.clip(base + rng.normal(0, 18, (32, 32, 3)), 0, 255).astype(np.uint8)
    low = np.clip(100 + 30 * np.cos(xx[..., None] * 0.2 - yy[..., None] * 0.4 + np.arange(3)), 0, 255)
    low = np.clip(low + rng.normal(0, 4, (32, 32, 3)), 0, 255).astype(np.uint8)
    return {"gray28": gray, "rgb32": rgb, "low32": low}


def generate(outdir):
    tensors = {}
    for name, x in images().items():
        tensors[name + ".x"] = torch.from_numpy(x.copy())
        pil = Image.fromarray(x[:, :, 0], "L") if x.shape[2] == 1 else Image.fromarray(x, "RGB")
        for op in OPS:
            for k, (level, sign) in enumerate(LEVELS):
                y = np.asarray(apply(op, pil, level, sign)).reshape(x.shape)
                tensors[f"{name}.{op}.{k}"] = torch.from_numpy(y.copy())
    _st.save(tensors, outdir / "augmix.safetensors")
