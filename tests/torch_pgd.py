#!/usr/bin/python3
"""An independent PGD in PyTorch, for tests/test_pgd_torch_ref.c.

    torch_pgd.py CKPT X Y N H W C STEPS OUT EPS STEP [EPS STEP ...]

CKPT: a rampart checkpoint (loaded with python/rampart_torch.py, eval mode). X: N*H*W*C
float32 (little-endian, NHWC, [0, 1]); Y: N int32 labels. For every (EPS, STEP): L-inf PGD
with cross-entropy, no random start, STEPS signed-gradient steps of size STEP, each followed
by projection onto the eps-ball around x and clipping to [0, 1]. An example counts as robust
when no iterate (x itself, the STEPS steps) is misclassified (argmax, first maximum on ties)
— the "stop at the first success" semantics rampart's PGD reports. Writes OUT (JSON):
{"clean": acc, "runs": [{"eps", "step", "accuracy", "robust": "0101..."}]}.

Written from the algorithm (Madry et al. 2018), not from rampart's C. Run with Debian's
python3 (torch 1.13).
"""
import json
import pathlib
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "python"))
import rampart_torch  # noqa: E402


def read(path, dtype, shape):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=dtype).reshape(shape).clone()


def pgd_robust(model, x, y, eps, step, steps):
    """Boolean (N,): never misclassified along the PGD path. Fooled examples leave the batch
    (the verdict is settled; eval mode makes examples independent)."""
    robust = torch.ones(len(y), dtype=torch.bool)
    alive = torch.arange(len(y))
    xa = x.clone()
    for k in range(steps + 1):
        xk = xa[alive].requires_grad_(True)
        logits = model(xk)
        ok = logits.argmax(dim=1) == y[alive]
        robust[alive[~ok]] = False
        if k == steps:
            break
        loss = F.cross_entropy(logits, y[alive], reduction="sum")  # per-example gradients
        (g,) = torch.autograd.grad(loss, xk)
        with torch.no_grad():
            xk = xk + step * g.sign()
            x0 = x[alive]
            xa[alive] = torch.max(torch.min(xk, x0 + eps), x0 - eps).clamp(0.0, 1.0)
        alive = alive[ok]
        if len(alive) == 0:
            break
    return robust


def main(argv):
    if len(argv) < 11 or (len(argv) - 9) % 2:
        sys.exit(__doc__)
    torch.set_num_threads(2)
    ckpt, xpath, ypath = argv[0:3]
    N, H, W, C, steps = (int(v) for v in argv[3:8])
    out = argv[8]
    model = rampart_torch.load(ckpt)
    for p in model.parameters():
        p.requires_grad_(False)
    x = read(xpath, torch.float32, (N, H, W, C)).permute(0, 3, 1, 2).contiguous()
    y = read(ypath, torch.int32, (N,)).to(torch.int64)
    with torch.no_grad():
        clean = (model(x).argmax(dim=1) == y).float().mean().item()
    runs = []
    for i in range(9, len(argv), 2):
        eps, step = float(argv[i]), float(argv[i + 1])
        robust = pgd_robust(model, x, y, eps, step, steps)
        runs.append({"eps": eps, "step": step, "accuracy": robust.float().mean().item(),
                     "robust": "".join("1" if r else "0" for r in robust.tolist())})
    with open(out, "w") as f:
        json.dump({"clean": clean, "runs": runs}, f)


if __name__ == "__main__":
    main(sys.argv[1:])
