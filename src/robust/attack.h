/* Attacks: batched, on any model, inputs in [0,1] (pixel space), L-inf and L2, untargeted
 * and targeted, seeded. They run the model in EVAL mode on logits and use only
 * rp_model_forward / rp_model_backward(..., RP_GRAD_INPUT) — never parameter gradients.
 *
 * Every attack writes x_adv with ||x_adv - x|| <= eps (per example, in its norm) and
 * clip_min <= x_adv <= clip_max; rp_attack_check_ball verifies that on the output. */
#ifndef RP_ROBUST_ATTACK_H
#define RP_ROBUST_ATTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/model.h"
#include "rampart.h"

/* The attack kinds, rp_attack_config, rp_attack_defaults, rp_attack_name,
 * rp_attack_kind_from_name, rp_attack_create / destroy / get_config / run / seek and
 * rp_attack_check_ball are public: include/rampart.h declares them (with their documentation).
 * This header is what the library's own code includes for them. */

#endif
