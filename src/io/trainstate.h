/* Training state for exact resume: everything a run needs to continue as if it had never
 * stopped, in one file written atomically beside the checkpoint (`OUT.state`).
 *
 * The file is a safetensors file (io/safetensors.h):
 *   model/<param>             every parameter and buffer in the model's own layout
 *   optim/<slot>/<param>      the optimizer's moments (optim/optim.h), trainable tensors only
 *   optim/average/<param>     the weight average (optimizer's ema_decay > 0), every tensor
 *   metadata: format, position (epoch, batch, the epoch's running sums), optimizer step
 *   counters, the unfreezer's position, the caller's flags (compared on load), the caller's
 *   own bookkeeping (opaque JSON), and the SHA-256 of the weights file written at the same time.
 *
 * The state carries its own copy of the weights, so it is self-consistent on its own: the
 * checkpoint and the state are two files and two renames, and a run killed between them
 * leaves a newer checkpoint beside an older state; resuming from the state then repeats the
 * steps since, exactly (the link, weights_sha256, tells the caller which case it is in).
 * Everything else a step draws is keyed, not carried: the loader's shuffle by (seed, epoch),
 * augmentation, the objectives' random starts and the dropout and stochastic-depth masks by
 * (seed, epoch, sample), so the position (epoch, batch) restores them. */
#ifndef RP_IO_TRAINSTATE_H
#define RP_IO_TRAINSTATE_H

#include <stdint.h>

#include "core/status.h"
#include "optim/optim.h"
#include "optim/unfreeze.h"

#define RP_TRAINSTATE_FORMAT "rampart-train-state-1"

/* rp_train_position, rp_train_parts, rp_trainstate_save and rp_trainstate_load are public:
 * rampart.h (training state). */

#endif
