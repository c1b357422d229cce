"""torchvision 0.14's efficientnet_b0 (10 classes) with seeded random weights: batch-norm
affine parameters drawn around 1 and 0, running statistics calibrated on three batches of
random images, the classifier's weights N(0, 0.1^2) so that logits differ between images.

Files (PyTorch layouts; keys are torchvision's state_dict keys):
  efficientnet_b0_weights.safetensors   the state_dict (float32, num_batches_tracked I64)
  efficientnet_b0.safetensors
    x (B,H,W,3) in [0,1] (NHWC, as rampart takes it), dy (B,10)
    eval_logits     evaluation mode, behind (x - mean) / std as rampart's first layer
    eval_dx         gradient of sum(eval_logits * dy) wrt x (NHWC)
    train_logits, train_dx   the same in training mode (batch statistics) with dropout and
                    stochastic depth off (p = 0: their draws are each generator's own)
    gnorm.<key>     L2 norm of the training pass's gradient of sum(train_logits * dy) wrt
                    every parameter, and grad.<key> the whole gradient of those in GRAD_KEYS
    metadata: H, W, B
The maths runs in float64 on the float32 weights and inputs (the true answer rounded once).
"""
import torch
import torchvision

import _st
from _torchvision_ref import normalize, passes

GRAD_KEYS = ["features.0.0.weight", "features.1.0.block.1.fc1.weight", "features.2.0.block.1.0.weight",
             "features.4.1.block.2.fc2.bias", "features.6.3.block.3.1.weight", "features.8.1.bias",
             "classifier.1.weight"]

def generate(outdir):
    torch.manual_seed(2024)
    B, H, W = 4, 64, 64
    m = torchvision.models.efficientnet_b0(num_classes=10)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.3, 0.3)
                mod.momentum = None  # cumulative average over the calibration batches
            if isinstance(mod, torch.nn.Linear):
                mod.weight.normal_(0, 0.1)
        m.train()
        for _ in range(3):
            m(normalize(torch.rand(16, 3, H, W)))
    m.eval()
    _st.save(dict(m.state_dict()), outdir / "efficientnet_b0_weights.safetensors")
    x = torch.rand(B, 3, H, W)

    def no_dropout(md):
        for mod in md.modules():
            if isinstance(mod, (torch.nn.Dropout, torchvision.ops.StochasticDepth)):
                mod.p = 0.0

    t = passes(m, x, torch.randn(B, 10), GRAD_KEYS, no_dropout)
    _st.save(t, outdir / "efficientnet_b0.safetensors", {"B": B, "H": H, "W": W})
