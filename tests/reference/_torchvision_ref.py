"""What tests/reference/backbones.py and efficientnet.py share: ImageNet's normalisation (rampart's
first layer) and the passes whose results the C tests compare against.

passes(m, x, dy, grad_keys, before_train) runs the model in float64 on its float32 weights and
inputs (the true answer rounded once) and returns the tensors of ARCH.safetensors:
  x (B,H,W,3) in [0,1] (NHWC, as rampart takes it), dy (B,10)
  eval_logits     evaluation mode, behind (x - mean) / std
  eval_dx         gradient of sum(eval_logits * dy) wrt x (NHWC)
  train_logits, train_dx   the same in training mode (batch statistics), after before_train(md)
  gnorm.<key>     L2 norm of the training pass's gradient of sum(train_logits * dy) wrt every
                  parameter, and grad.<key> the whole gradient of those in grad_keys
"""
import torch

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def normalize(x):
    return (x - torch.tensor(MEAN, dtype=x.dtype).view(1, 3, 1, 1)) / torch.tensor(STD, dtype=x.dtype).view(1, 3, 1, 1)


def passes(m, x, dy, grad_keys, before_train=None):
    md = m.double()
    xd = x.double().requires_grad_(True)
    y = md(normalize(xd))
    (y * dy.double()).sum().backward()
    nhwc = lambda t: t.detach().permute(0, 2, 3, 1).contiguous().float()
    t = {"x": nhwc(x), "dy": dy, "eval_logits": y.detach().float(), "eval_dx": nhwc(xd.grad)}
    if before_train:
        before_train(md)
    md.train()
    md.zero_grad()
    xd = x.double().requires_grad_(True)
    y = md(normalize(xd))
    (y * dy.double()).sum().backward()
    t.update({"train_logits": y.detach().float(), "train_dx": nhwc(xd.grad)})
    for k, p in md.named_parameters():
        t["gnorm." + k] = p.grad.norm().reshape(1).float()
        if k in grad_keys:
            t["grad." + k] = p.grad.float()
    return t
