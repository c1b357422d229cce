"""AugMix's Jensen-Shannon consistency loss, as the paper's code computes it
(google-research/augmix: p_mixture = clamp(mean of the softmaxes, 1e-7, 1).log(), then the
mean of F.kl_div(p_mixture, p_v, reduction='batchmean') over the views), with its gradient
with respect to every view's logits, in float64 from float32 inputs."""
import torch
import torch.nn.functional as F

import _st


def _jsd(outdir, name, V, B, K, spread, scale):
    z = (torch.randn(V * B, K) * spread).float()
    if name.endswith("_tiny"):  # a class whose mixture falls below the clamp at 1e-7
        z[:, 0] = -40.0
    zd = z.double().requires_grad_(True)
    ps = [F.softmax(zd[v * B:(v + 1) * B], dim=1) for v in range(V)]
    logm = torch.clamp(sum(ps) / V, 1e-7, 1).log()
    loss = sum(F.kl_div(logm, p, reduction="batchmean") for p in ps) / V
    (loss * scale).backward()
    _st.save({"z": z, "loss": loss.detach().float(), "dz": zd.grad.float()},
             outdir / f"consistency_{name}.safetensors", {"V": V, "B": B, "scale": scale})


def generate(outdir):
    torch.manual_seed(4321)
    _jsd(outdir, "jsd3", 3, 6, 10, 2.0, 1.0)
    _jsd(outdir, "jsd3_scaled", 3, 5, 7, 4.0, 12.0)
    _jsd(outdir, "jsd2", 2, 4, 5, 1.0, 1.0)
    _jsd(outdir, "jsd3_tiny", 3, 4, 6, 1.0, 1.0)
