#!/usr/bin/env python3
"""Seed corpus for the fuzzing harnesses (docs/fuzzing.md): small valid files of every format a
reader of outside bytes takes, so that each harness starts past the magic-number checks.

    python3 tests/fuzz/make_seeds.py tests/fuzz/corpus

writes corpus/{idx,cifar,npy,image}/seed_* and a bare safetensors file of every dtype in
corpus/safetensors/; the rampart checkpoint and training-state seeds come from
make_seeds.c (built as fuzz_make_seeds), which needs the library. Deterministic: the same files
every time (PIL and NumPy from Debian).

The report's seeds (corpus/report/) are rows the command writes, behind one byte that picks
strict reading (0) or --skip-bad (1):
    rampart eval --model M --limit 12 --batch 12 --attack fgsm,worst --eps 0.1 --steps 2 --queries 5 \
        --noise gaussian --severity 2 --corruptions fog --json > eval.jsonl
    rampart train --data fashion-mnist --model mlp --epochs 2 --limit 100 --test-limit 20 --seed 1 \
        --out t.safetensors --json > train.jsonl
seed_eval_strict = 0x00 + eval.jsonl, seed_train = 0x00 + train.jsonl, seed_train_eval_skip =
0x01 + train.jsonl + eval.jsonl."""
import gzip
import io
import os
import struct
import sys

import numpy as np
from PIL import Image


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def idx(dims, body):
    return struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + body


def npy(arr, version=(1, 0)):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


def main(out):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    images = idx((3, 4, 5), img.tobytes())
    labels = idx((3,), bytes([1, 0, 9]))
    write(f"{out}/idx/seed_images", images)
    write(f"{out}/idx/seed_labels", labels)
    write(f"{out}/idx/seed_images.gz", gzip.compress(images, mtime=0))
    write(f"{out}/idx/seed_labels.gz", gzip.compress(labels, mtime=0))

    rec = lambda lab: bytes([lab]) + rng.integers(0, 256, size=3072, dtype=np.uint8).tobytes()
    write(f"{out}/cifar/seed_two_records", rec(3) + rec(7))
    write(f"{out}/cifar/seed_meta", b"".join(b"class%d\n" % i for i in range(10)))

    write(f"{out}/npy/seed_images_v1", npy(rng.integers(0, 256, size=(2, 3, 3, 3), dtype=np.uint8)))
    write(f"{out}/npy/seed_images_v2", npy(rng.integers(0, 256, size=(2, 2, 2, 1), dtype=np.uint8), (2, 0)))
    write(f"{out}/npy/seed_labels_i8", npy(np.array([1, 5, 2], dtype="<i8")))
    write(f"{out}/npy/seed_labels_u1", npy(np.array([0, 9], dtype="|u1")))
    write(f"{out}/npy/seed_labels_i2_v3", npy(np.array([4, 1], dtype="<i2"), (3, 0)))

    # safetensors without rampart's metadata: one tensor of each dtype the reader converts
    tensors, blobs, off = {}, [], 0
    for name, dt, arr in [("f32", "F32", np.array([1.5, -2], "<f4")), ("f64", "F64", np.array([0.25], "<f8")),
                          ("f16", "F16", np.array([1, 2, 3], "<f2")), ("bf16", "BF16", np.array([16256, 49024], "<u2")),
                          ("i64", "I64", np.array([[7], [8]], "<i8")), ("i32", "I32", np.array([-3], "<i4")),
                          ("u8", "U8", np.array([1, 2], "u1")), ("bool", "BOOL", np.array([1, 0], "u1"))]:
        b = arr.tobytes()
        tensors[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    tensors["__metadata__"] = {"note": "fuzz seed"}
    import json
    hdr = json.dumps(tensors, separators=(",", ":")).encode()
    hdr += b" " * (-len(hdr) % 8)
    write(f"{out}/safetensors/seed_dtypes", struct.pack("<Q", len(hdr)) + hdr + b"".join(blobs))

    rgb = Image.fromarray(rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8), "RGB")
    gray = rgb.convert("L")
    def enc(im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        return b.getvalue()
    write(f"{out}/image/seed_rgb.png", enc(rgb, "PNG"))
    write(f"{out}/image/seed_gray.png", enc(gray, "PNG"))
    write(f"{out}/image/seed_rgba.png", enc(rgb.convert("RGBA"), "PNG"))
    write(f"{out}/image/seed_palette.png", enc(rgb.convert("P"), "PNG"))
    write(f"{out}/image/seed_gray16.png", enc(Image.fromarray((np.asarray(gray).astype(np.uint16) * 257)), "PNG"))
    write(f"{out}/image/seed_gray_alpha.png", enc(rgb.convert("LA"), "PNG"))
    write(f"{out}/image/seed_rgb.jpg", enc(rgb, "JPEG", quality=80))
    write(f"{out}/image/seed_gray.jpg", enc(gray, "JPEG", quality=80))
    write(f"{out}/image/seed_progressive.jpg", enc(rgb, "JPEG", quality=60, progressive=True))
    write(f"{out}/image/seed_cmyk.jpg", enc(rgb.convert("CMYK"), "JPEG", quality=80))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus"))
