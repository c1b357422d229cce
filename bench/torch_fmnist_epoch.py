"""One Fashion-MNIST training epoch of smallcnn in PyTorch, timed like rampart's:
data preloaded as a float tensor in [0,1], SGD momentum 0.9, batch 128, shuffled, the
training loop alone timed (no evaluation). Prints one JSON line."""
import argparse
import gzip
import json
import pathlib
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
from rampart_torch import SmallCNN  # noqa: E402

FMNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


def read_idx(path):
    raw = gzip.open(path).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = read_idx(FMNIST / "train-images-idx3-ubyte.gz").float().div_(255).unsqueeze(1)
    y = read_idx(FMNIST / "train-labels-idx1-ubyte.gz").long()
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    model = SmallCNN(num_classes=10, input_hwc=(28, 28, 1), mean=[0.2860], std=[0.3530])
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    perm = torch.randperm(len(x))
    t0 = time.perf_counter()
    for s in range(0, len(x), a.batch):
        idx = perm[s:s + a.batch]
        xb, yb = x[idx], y[idx]
        if a.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    secs = time.perf_counter() - t0
    print(json.dumps({"impl": f"pytorch {torch.__version__}", "images": len(x), "seconds": secs,
                      "images_per_s": len(x) / secs, "threads": a.threads,
                      "channels_last": a.channels_last}))


if __name__ == "__main__":
    main()
