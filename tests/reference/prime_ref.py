"""Reference for PRIME's primitives (src/data/prime.c) with FIXED parameters, computed the way
the authors' code does (github.com/amodas/PRIME-augmentations, utils/rand_filter.py,
utils/diffeomorphism.py, utils/color_jitter.py), rewritten here in plain torch (their code needs
einops and opt_einsum, and is not shipped): the random draws are replaced by the stored
standard normals, everything else follows their operations. Computed in float64 so that the
comparison tests the formulas, not float32 rounding; images stored NHWC float32."""
import math

import numpy as np
import torch
import torch.nn.functional as F

import _st

FILTERS = [  # (name, H, W, C, K, sigma)
    ("filter_k3_gray", 28, 28, 1, 3, 1.5),
    ("filter_k3_rgb", 32, 32, 3, 3, 0.5),
    ("filter_k5_rgb", 64, 64, 3, 5, 0.3),
]
DIFFEOS = [  # (name, H=W, C, cut, where T lies in [T1, max(T1, T2)])
    ("diffeo_c8_gray", 28, 1, 8, 1.0),
    ("diffeo_c60_rgb", 32, 3, 60, 0.0),
    ("diffeo_c30_64", 64, 1, 30, 0.5),
]
COLOURS = [  # (name, H, W, C, cut, T)
    ("colour_c100_rgb", 32, 32, 3, 100, 0.01),
    ("colour_c5_gray", 28, 28, 1, 5, 0.01),
    ("colour_c40_64", 64, 64, 3, 40, 0.005),
]


def image(rng, H, W, C):
    yy, xx = np.mgrid[0:H, 0:W]
    base = 0.5 + 0.4 * np.sin(xx[..., None] * 0.31 + yy[..., None] * 0.19 + np.arange(C))
    img = np.clip(base + rng.normal(0, 0.08, (H, W, C)), 0, 1).astype(np.float32)
    img[0, 0, 0], img[0, 1, 0] = 0.0, 1.0
    return img


def random_filter(img, kernel):
    """RandomFilter.forward: one kernel for all channels, conv2d padding="same", clamp."""
    x = img[None]  # b c h w, b = 1
    x = x.permute(1, 0, 2, 3)  # c b h w
    out = F.conv2d(x, kernel[None, None], padding="same", groups=1)
    return torch.clamp(out.permute(1, 0, 2, 3), 0.0, 1.0)[0]


def scalar_field(n, m, g):
    """scalar_field with torch.randn(m, m) replaced by g."""
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    k = torch.arange(1, m + 1, dtype=torch.float64)
    i, j = torch.meshgrid(k, k, indexing="ij")
    r = (i.pow(2) + j.pow(2)).sqrt()
    e = (r < m + 0.5) / r
    s = torch.sin(math.pi * x[:, None] * k[None, :])
    return torch.einsum("ij,xi,yj->yx", g * e, s, s)


def temperature_range(n, cut):
    cut = cut + 1e-6
    log = math.log(cut)
    return 1 / (math.pi * n ** 2 * log), 4 / (math.pi ** 3 * cut ** 2 * log)


def remap(a, dx, dy):
    """remap(..., interp='linear')."""
    n, m = a.shape[-2:]
    y, x = torch.meshgrid(torch.arange(n, dtype=dx.dtype), torch.arange(m, dtype=dx.dtype), indexing="ij")
    xn = (x - dx).clamp(0, m - 1)
    yn = (y - dy).clamp(0, n - 1)
    xf, yf, xc, yc = xn.floor().long(), yn.floor().long(), xn.ceil().long(), yn.ceil().long()
    xv, yv = xn - xf, yn - yf
    return ((1 - yv) * (1 - xv) * a[..., yf, xf] + (1 - yv) * xv * a[..., yf, xc]
            + yv * (1 - xv) * a[..., yc, xf] + yv * xv * a[..., yc, xc])


def smooth_color(img, coeff, T):
    """random_smooth_color with torch.randn(b, c, cut) replaced by coeff (c, cut)."""
    c, h, w = img.shape
    colors = img.reshape(c, h * w)
    k = torch.arange(1, coeff.shape[1] + 1, dtype=torch.float64)
    coeff = coeff * math.sqrt(T)
    freqs = torch.sin(colors[..., None] * k[None, None, :] * math.pi)
    out = torch.einsum("cf,cnf->cn", coeff, freqs) + colors
    return torch.clamp(out, 0, 1).reshape(c, h, w)


def chw(x):
    return torch.from_numpy(x).double().permute(2, 0, 1)


def hwc(t):
    return t.permute(1, 2, 0).float().contiguous()


def generate(outdir):
    rng = np.random.default_rng(11)
    t = {}
    for name, H, W, C, K, sigma in FILTERS:
        x = image(rng, H, W, C)
        g = rng.standard_normal((K, K)).astype(np.float32)
        sigma = float(np.float32(sigma))
        kernel = sigma * torch.from_numpy(g).double()
        c = int(np.ceil(K / 2))  # the code's delta: one pixel off centre for odd K
        kernel[c, c] += 1.0
        t[name + ".x"] = torch.from_numpy(x)
        t[name + ".g"] = torch.from_numpy(g)
        t[name + ".sigma"] = torch.tensor([sigma], dtype=torch.float32)
        t[name + ".y"] = hwc(random_filter(chw(x), kernel))
    for name, n, C, cut, where in DIFFEOS:
        x = image(rng, n, n, C)
        gu = rng.standard_normal((cut, cut)).astype(np.float32)
        gv = rng.standard_normal((cut, cut)).astype(np.float32)
        T1, T2 = temperature_range(n, cut)
        T2 = max(T1, T2)
        T = float(np.float32(T1 + where * (T2 - T1)))
        u = scalar_field(n, cut, torch.from_numpy(gu).double())
        v = scalar_field(n, cut, torch.from_numpy(gv).double())
        dx, dy = T ** 0.5 * u * n, T ** 0.5 * v * n
        t[name + ".x"] = torch.from_numpy(x)
        t[name + ".gu"] = torch.from_numpy(gu)
        t[name + ".gv"] = torch.from_numpy(gv)
        t[name + ".T"] = torch.tensor([T], dtype=torch.float32)
        t[name + ".dx"] = dx.float()
        t[name + ".dy"] = dy.float()
        t[name + ".y"] = hwc(remap(chw(x), dx, dy))
    for name, H, W, C, cut, T in COLOURS:
        T = float(np.float32(T))
        x = image(rng, H, W, C)
        coeff = rng.standard_normal((C, cut)).astype(np.float32)
        t[name + ".x"] = torch.from_numpy(x)
        t[name + ".coeff"] = torch.from_numpy(coeff)
        t[name + ".T"] = torch.tensor([T], dtype=torch.float32)
        t[name + ".y"] = hwc(smooth_color(chw(x), torch.from_numpy(coeff).double(), T))
    _st.save(t, outdir / "prime.safetensors")
