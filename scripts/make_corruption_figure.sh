#!/usr/bin/env bash
# docs/img/corruptions.png: every corruption (a row) at its five severities (columns), made by
# `rampart corrupt` itself, on a Fashion-MNIST test image (28 px gray, this project's 28-px
# table) beside a 64 px colour image (the synthetic test image of tests/data/corruptions,
# Tiny-ImageNet-C's table). Rows for a corruption that does not apply (saturate on gray) are
# marked n/a. Needs Debian's python3-pil for the montage.
#   scripts/make_corruption_figure.sh [OUT.png]   (default docs/img/corruptions.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/img/corruptions.png}
bin=${RAMPART_BIN:-build/rampart}
[ -x "$bin" ] || { echo "build first: make build (or set RAMPART_BIN)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the colour image as a one-class folder data set
/usr/bin/python3 - "$tmp" <<'PY'
import pathlib, sys
from PIL import Image
d = pathlib.Path(sys.argv[1]) / "colour" / "test" / "scene"
d.mkdir(parents=True)
raw = pathlib.Path("tests/data/corruptions/input_64.u8").read_bytes()
Image.frombytes("RGB", (64, 64), raw).save(d / "scene.png")
PY
"$bin" corrupt --data fashion-mnist --limit 1 --corruptions all --severity 1-5 --out "$tmp/gray" >/dev/null
"$bin" corrupt --data "folder:$tmp/colour/test,64" --corruptions all --severity 1-5 --out "$tmp/rgb" >/dev/null
/usr/bin/python3 - "$tmp" "$out" <<'PY'
import gzip, pathlib, sys
from PIL import Image, ImageDraw
tmp, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
names = sorted(p.name for p in (tmp / "rgb").iterdir() if p.is_dir())
order = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "defocus_blur", "glass_blur",
         "motion_blur", "zoom_blur", "gaussian_blur", "snow", "frost", "fog", "brightness", "spatter", "contrast",
         "elastic_transform", "pixelate", "jpeg_compression", "saturate", "rotate", "shear", "scale", "translate",
         "stripe", "dotted_line", "zigzag"]
names = [n for n in order if n in names] + [n for n in names if n not in order]
S, pad, label_w = 64, 4, 150
def gray_image(name, s):
    d = tmp / "gray" / name / f"s{s}"
    f = next(iter(sorted(d.glob("*images*"))), None)
    if f is None:
        return None
    raw = f.read_bytes()
    return Image.frombytes("L", (28, 28), raw[16:16 + 784]).resize((S, S), Image.NEAREST).convert("RGB")
def rgb_image(name, s):
    f = next(iter(sorted((tmp / "rgb" / name / f"s{s}").rglob("*.png"))), None)
    return Image.open(f).convert("RGB") if f else None
clean_gray = Image.frombytes("L", (28, 28), gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()[16:16 + 784]).resize((S, S), Image.NEAREST).convert("RGB")
clean_rgb = Image.frombytes("RGB", (64, 64), pathlib.Path("tests/data/corruptions/input_64.u8").read_bytes())
cols = 12  # clean + 5 severities, twice
W = label_w + cols * (S + pad) + pad * 3
H = 20 + (len(names) + 1) * (S + pad)
fig = Image.new("RGB", (W, H), "white")
dr = ImageDraw.Draw(fig)
for j, t in enumerate(["clean", "1", "2", "3", "4", "5"] * 2):
    x = label_w + j * (S + pad) + (pad * 3 if j >= 6 else 0)
    dr.text((x + S // 2 - 10, 4), t, fill="black")
def put(img, i, j):
    x = label_w + j * (S + pad) + (pad * 3 if j >= 6 else 0)
    y = 20 + i * (S + pad)
    if img is None:
        dr.rectangle([x, y, x + S - 1, y + S - 1], outline="gray")
        dr.text((x + 22, y + 26), "n/a", fill="gray")
    else:
        fig.paste(img, (x, y))
dr.text((4, 20 + S // 2), "(clean)", fill="black")
put(clean_gray, 0, 0), put(clean_rgb, 0, 6)
for i, n in enumerate(names, start=1):
    dr.text((4, 20 + i * (S + pad) + S // 2 - 6), n, fill="black")
    put(clean_gray, i, 0), put(clean_rgb, i, 6)
    for s in range(1, 6):
        put(gray_image(n, s), i, s)
        put(rgb_image(n, s), i, 6 + s)
out.parent.mkdir(parents=True, exist_ok=True)
fig.save(out)
print(f"wrote {out}: {len(names)} corruptions")
PY
