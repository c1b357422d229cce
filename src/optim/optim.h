/* Optimizers (SGD with momentum / Nesterov / L2 weight decay, AdamW), learning-rate
 * schedules, and the optimizer state a training checkpoint needs to resume exactly.
 *
 * Semantics follow PyTorch 1.13's single-tensor torch.optim.SGD (dampening 0) and
 * torch.optim.AdamW, with per-parameter state as PyTorch keeps it:
 *  - a parameter is updated only when trainable and not frozen (PyTorch skips a
 *    parameter whose grad is None, e.g. requires_grad=False): a frozen parameter does
 *    not move, not even by weight decay, and its state (momentum, moments, step count)
 *    is kept unchanged until it is unfrozen;
 *  - SGD's momentum buffer is set to the (decayed) gradient at a parameter's first
 *    update, as PyTorch's buffer-is-None branch does;
 *  - AdamW's bias corrections use the parameter's own update count (PyTorch's
 *    state['step']), which differs from the global step for a parameter that was frozen
 *    for a while.
 *
 * The moments live in one arena carved at create time with the parameters' layout
 * (slot-major: every parameter's slot 0, then every parameter's slot 1); rp_optim_step
 * allocates nothing. */
#ifndef RP_OPTIM_OPTIM_H
#define RP_OPTIM_OPTIM_H

#include <stdint.h>

#include "nn/model.h"
#include "rampart.h"

/* The learning rate step t (0-based, counted from the optimizer's creation) uses under
 * cfg's schedule and warm-up. rp_optim_lr(o) is rp_optim_lr_at(cfg, steps taken). */
float rp_optim_lr_at(const rp_optim_config *cfg, int64_t t);

/* Check a configuration (ranges, schedule fields); a failure names the field. */
rp_status rp_optim_check_config(rp_ctx *ctx, const rp_optim_config *cfg);

/* BORROWED: the configuration the optimizer was created with. */
const rp_optim_config *rp_optim_get_config(const rp_optim *o);

/* ---- state, for training checkpoints -------------------------------------------
 * Per parameter i (index into m->g.params), the optimizer keeps `num_slots` moment
 * tensors of params[i].numel floats in the parameter's own layout (RP_LAYOUT_OHWI
 * weights included: reorder as for the weights when writing PyTorch files), and the
 * number of updates the parameter has received. To save: copy the slots and step
 * counts out. To restore into a fresh optimizer over the same model: write the slots
 * through rp_optim_slot and call rp_optim_restore_steps. */

/* 0 (SGD without momentum), 1 (SGD momentum_buffer) or 2 (AdamW exp_avg, exp_avg_sq). */
int rp_optim_num_slots(const rp_optim *o);
/* PyTorch's state key of a slot: "momentum_buffer", "exp_avg" or "exp_avg_sq". BORROWED. */
const char *rp_optim_slot_name(const rp_optim *o, int slot);
/* BORROWED: slot `slot` of parameter i (params[i].numel floats), NULL for buffers
 * (non-trainable tensors have no optimizer state). Writable, for restoring. */
float *rp_optim_slot(rp_optim *o, int slot, int i);
/* BORROWED: the moving average of tensor i (params[i].numel floats, every tensor, buffers
 * included), or NULL when the optimizer keeps none (cfg.ema_decay 0). Writable, for restoring. */
float *rp_optim_average(rp_optim *o, int i);
/* rp_optim_steps (steps taken, the schedule's position) is public: rampart.h. */
/* Updates parameter i has received (PyTorch's state['step']; for SGD, 0 means the
 * momentum buffer is not yet initialised). Always 0 for buffers. */
int64_t rp_optim_param_steps(const rp_optim *o, int i);
/* Restore the step counters: steps taken and, per parameter (n_params values, in
 * m->g.params order), updates received. Fails with RP_ERR_ARG when a count is negative,
 * exceeds steps, or is nonzero for a buffer. */
rp_status rp_optim_restore_steps(rp_optim *o, int64_t steps, const int64_t *param_steps,
                                 int n_params);

#endif
