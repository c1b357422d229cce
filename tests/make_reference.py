#!/usr/bin/python3
"""Make the PyTorch reference files the C tests compare against.

Run with Debian's python3-torch (an implementation independent of rampart):
    /usr/bin/python3 tests/make_reference.py OUTDIR
Every module tests/reference/<name>.py (not starting with '_') has generate(outdir),
which writes safetensors files named after its cases. Tensors are stored in PyTorch's
layouts (NCHW activations, OIHW weights); the C tests convert.
"""
import importlib.util
import os
import pathlib
import sys

import torch


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_reference.py OUTDIR")
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    here = pathlib.Path(__file__).resolve().parent / "reference"
    sys.path.insert(0, str(here))
    for path in sorted(here.glob("[!_]*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.generate(out)
        print(f"reference: {path.stem} done")
    (out / "STAMP").write_text(f"torch {torch.__version__}\n")


if __name__ == "__main__":
    main()
