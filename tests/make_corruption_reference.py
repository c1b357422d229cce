#!/usr/bin/env python3
"""Make the reference outputs the corruption tests compare against, with PyPI's
imagecorruptions (Michaelis et al.; the ImageNet-C code of Hendrycks & Dietterich as a
package, with its frost photographs):

    pip install imagecorruptions
    python3 tests/make_corruption_reference.py tests/data/corruptions

imagecorruptions applies ImageNet-C's parameter table at every image size, so the C tests run
rampart's corruptions with the ImageNet-C table (RP_CTABLE_IMAGENET) on the same inputs.
Outputs are committed (uint8, a few MB) so CI needs neither the package nor its dependencies.

Written per size S in {32, 64}:
    input_S.u8            S x S x 3 uint8, a synthetic image (gradients, edges, texture)
    NAME_S.u8             5 x S x S x 3 uint8: severities 1..5 of corruption NAME
The random corruptions are seeded with numpy's global RNG (seed 1000*severity + S) and are
compared by distribution in the tests, the deterministic ones value by value.

imagecorruptions 1.1.2 predates numpy 2 and scikit-image 0.19; the shims below restore the
names it calls (np.float_, gaussian(multichannel=...), scipy.ndimage.interpolation,
pkg_resources) without changing what they compute.
"""
import importlib.util
import pathlib
import sys
import types

import numpy as np

if not hasattr(np, "float_"):
    np.float_ = np.float64
import skimage.filters

_gaussian = skimage.filters.gaussian


def _gaussian_compat(image, sigma=1, *args, multichannel=None, **kw):
    if multichannel is not None:
        kw["channel_axis"] = -1 if multichannel else None
    return _gaussian(image, sigma, *args, **kw)


skimage.filters.gaussian = _gaussian_compat
import scipy.ndimage

sys.modules.setdefault("scipy.ndimage.interpolation", scipy.ndimage)
if importlib.util.find_spec("pkg_resources") is None:
    pr = types.ModuleType("pkg_resources")

    def resource_filename(pkg, name):
        spec = importlib.util.find_spec(pkg)
        return str(pathlib.Path(spec.origin).parent / name)

    pr.resource_filename = resource_filename
    sys.modules["pkg_resources"] = pr

import imagecorruptions  # noqa: E402

NAMES = imagecorruptions.get_corruption_names("all")


def synthetic(S):
    """A deterministic image with smooth regions, edges, a colour gradient and texture."""
    rng = np.random.RandomState(S)
    yy, xx = np.mgrid[0:S, 0:S] / (S - 1.0)
    img = np.zeros((S, S, 3))
    img[..., 0] = 0.2 + 0.6 * xx
    img[..., 1] = 0.3 + 0.4 * yy
    img[..., 2] = 0.5 + 0.3 * np.sin(6.0 * xx * yy)
    for _ in range(4):  # coloured disks and boxes
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.2)
        col = rng.uniform(0, 1, 3)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[mask] = col
        y0, x0 = rng.randint(0, S // 2, 2)
        img[y0:y0 + S // 6, x0:x0 + S // 4] = rng.uniform(0, 1, 3)
    img += 0.04 * rng.standard_normal(img.shape)
    return np.uint8(np.clip(img, 0, 1) * 255 + 0.5)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corruption_reference.py OUTDIR")
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for S in (32, 64):
        img = synthetic(S)
        img.tofile(out / f"input_{S}.u8")
        for name in NAMES:
            rows = []
            for sev in range(1, 6):
                np.random.seed(1000 * sev + S)
                rows.append(imagecorruptions.corrupt(img, corruption_name=name, severity=sev))
            np.stack(rows).astype(np.uint8).tofile(out / f"{name}_{S}.u8")
        print(f"size {S}: {len(NAMES)} corruptions")
    (out / "STAMP").write_text(f"imagecorruptions {getattr(imagecorruptions, '__version__', '1.1.2')}, "
                               f"numpy {np.__version__}\n")


if __name__ == "__main__":
    main()
