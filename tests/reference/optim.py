"""Optimizer trajectories: torch.optim.SGD / AdamW with learning-rate schedulers, 5 steps
on fixed tensors with a fixed sequence of gradients, some steps with a parameter frozen
(its grad is None, as with requires_grad=False, so PyTorch skips it and keeps its state).

Per case, optim_<case>.safetensors holds
  init.<p>              the starting value of parameter p ("w" (3, 4), "b" (5,))
  grad.<p>              (STEPS, *shape) the gradient given at each step
  frozen                (STEPS, 2) 1 where w / b is frozen at that step
  lr                    (STEPS,) the lr PyTorch used at each step (param_groups[0]['lr'])
  traj.<p>              (STEPS, *shape) the value after each step
  state.<key>.<p>       PyTorch's final per-parameter state (momentum_buffer; exp_avg,
                        exp_avg_sq)
  param_steps           (2,) AdamW's final state['step'] of w and b
and, for the cases with weight averaging (ema_decay), torch.optim.swa_utils.AveragedModel
(avg_fn the EMA, use_buffers=True) over a module holding w, b and a buffer "rm" that is set
to a new value before every step (as a batch norm's forward sets its running statistics):
  buf.rm                (STEPS, 3) the buffer's value at each step
  avg.<p>               (STEPS, *shape) the average after each step, for w, b and rm
and the configuration in its metadata, in rampart's field names. Hyperparameters are
float32-rounded before PyTorch sees them, so that both sides use the same numbers.
"""
import numpy as np
import torch

import _st

STEPS = 5
NAMES = ("w", "b")
SHAPES = {"w": (3, 4), "b": (5,)}

CASES = {
    # b frozen at steps 2 and 3, after its momentum buffer exists
    "sgd_nesterov": dict(kind="sgd", lr=0.1, momentum=0.9, nesterov=1, weight_decay=5e-4,
                         frozen_b=(2, 3)),
    # b frozen at steps 0 and 1: its buffer starts at step 2; warm-up then step decay
    "sgd_momentum_warmup_step": dict(kind="sgd", lr=0.05, momentum=0.9, nesterov=0,
                                     weight_decay=5e-4, warmup_steps=2, schedule="step",
                                     step_size=2, gamma=0.5, frozen_b=(0, 1)),
    "sgd_plain": dict(kind="sgd", lr=0.1, momentum=0.0, nesterov=0, weight_decay=1e-3),
    # b frozen at steps 1 and 2: its own step count (bias correction) lags behind
    "adamw": dict(kind="adamw", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2,
                  frozen_b=(1, 2)),
    # weight averaging over SGD with b frozen for two steps, and over AdamW
    "sgd_nesterov_ema": dict(kind="sgd", lr=0.1, momentum=0.9, nesterov=1, weight_decay=5e-4,
                             frozen_b=(2, 3), ema_decay=0.9),
    "adamw_ema": dict(kind="adamw", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2,
                      ema_decay=0.5),
    "adamw_warmup_cosine": dict(kind="adamw", lr=2e-2, beta1=0.8, beta2=0.99, eps=1e-6,
                                weight_decay=0.05, warmup_steps=2, schedule="cosine",
                                total_steps=5),
}


def f32(x):
    return float(np.float32(x))


def make_optimizer(cfg, params):
    if cfg["kind"] == "sgd":
        return torch.optim.SGD(params, lr=f32(cfg["lr"]), momentum=f32(cfg["momentum"]),
                               nesterov=bool(cfg["nesterov"]),
                               weight_decay=f32(cfg["weight_decay"]))
    return torch.optim.AdamW(params, lr=f32(cfg["lr"]), betas=(f32(cfg["beta1"]), f32(cfg["beta2"])),
                             eps=f32(cfg["eps"]), weight_decay=f32(cfg["weight_decay"]))


def make_scheduler(cfg, opt):
    """rampart's warm-up factor (t + 1) / W is LinearLR(1 / W, total_iters = W - 1); it
    multiplies the schedule, as ChainedScheduler does."""
    scheds = []
    w = cfg.get("warmup_steps", 0)
    if w > 1:
        scheds.append(torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / w, end_factor=1.0,
                                                        total_iters=w - 1))
    sched = cfg.get("schedule", "constant")
    if sched == "step":
        scheds.append(torch.optim.lr_scheduler.StepLR(opt, step_size=cfg["step_size"],
                                                      gamma=f32(cfg["gamma"])))
    elif sched == "cosine":
        scheds.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["total_steps"],
                                                                 eta_min=0.0))
    if not scheds:
        return None
    return torch.optim.lr_scheduler.ChainedScheduler(scheds)


def run_case(name, cfg, gen, outdir):
    init = {p: torch.randn(SHAPES[p], generator=gen) for p in NAMES}
    grads = {p: torch.randn((STEPS,) + SHAPES[p], generator=gen) for p in NAMES}
    frozen = torch.zeros(STEPS, 2)
    for t in cfg.get("frozen_b", ()):
        frozen[t, 1] = 1.0
    params = {p: torch.nn.Parameter(init[p].clone()) for p in NAMES}
    opt = make_optimizer(cfg, [params[p] for p in NAMES])
    sched = make_scheduler(cfg, opt)
    traj = {p: torch.empty((STEPS,) + SHAPES[p]) for p in NAMES}
    lrs = torch.empty(STEPS, dtype=torch.float64)
    decay = f32(cfg.get("ema_decay", 0.0))
    if decay:
        module = torch.nn.Module()
        for p in NAMES:
            module.register_parameter(p, params[p])
        module.register_buffer("rm", torch.tensor([1.5, -2.5, 3.5]))
        bufs = torch.randn(STEPS, 3, generator=gen)
        averaged = torch.optim.swa_utils.AveragedModel(
            module, avg_fn=lambda a, w, n: decay * a + (1.0 - decay) * w, use_buffers=True)
        avg = {p: torch.empty((STEPS,) + SHAPES.get(p, (3,))) for p in NAMES + ("rm",)}
    for t in range(STEPS):
        for k, p in enumerate(NAMES):
            params[p].grad = None if frozen[t, k] else grads[p][t].clone()
        lrs[t] = opt.param_groups[0]["lr"]
        if decay:
            module.rm.copy_(bufs[t])
        opt.step()
        if sched is not None:
            sched.step()
        for p in NAMES:
            traj[p][t] = params[p].detach()
        if decay:
            averaged.update_parameters(module)
            for p in NAMES + ("rm",):
                avg[p][t] = getattr(averaged.module, p).detach()
    out = {f"init.{p}": init[p] for p in NAMES}
    out.update({f"grad.{p}": grads[p] for p in NAMES})
    out["frozen"] = frozen
    out["lr"] = lrs
    out.update({f"traj.{p}": traj[p] for p in NAMES})
    for p in NAMES:
        for key, val in opt.state[params[p]].items():
            if key == "step" or val is None:  # SGD without momentum keeps None
                continue
            out[f"state.{key}.{p}"] = val
    if decay:
        out["buf.rm"] = bufs
        out.update({f"avg.{p}": avg[p] for p in avg})
    if cfg["kind"] == "adamw":
        out["param_steps"] = torch.tensor([int(opt.state[params[p]]["step"]) for p in NAMES],
                                          dtype=torch.int64)
    meta = {k: v for k, v in cfg.items() if k != "frozen_b"}
    meta["steps"] = STEPS
    _st.save(out, outdir / f"optim_{name}.safetensors", meta)


def generate(outdir):
    gen = torch.Generator().manual_seed(20240611)
    for name, cfg in CASES.items():
        run_case(name, cfg, gen, outdir)
