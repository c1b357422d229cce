/* Training state for exact resume: everything a run needs to continue as if it had never
 * stopped, in one file written atomically beside the checkpoint (`OUT.state`).
 *
 * The file is a safetensors file (io/safetensors.h):
 *   model/<param>             every parameter and buffer in the model's own layout
 *   optim/<slot>/<param>      the optimizer's moments (optim/optim.h), trainable tensors only
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

/* Where a run stands: the next batch to take is `batch` (0-based) of `epoch` (from 1); the
 * sums are that epoch's so far (for its log line). */
typedef struct rp_train_position {
    int epoch, batch;
    double loss_sum;
    int64_t seen, correct, steps;
    double seconds; /* training wall time so far (log only) */
} rp_train_position;

/* What the state covers. BORROWED; unfreeze may be NULL (then nothing of it is saved, and a
 * file that has it is refused on load, and the other way round). */
typedef struct rp_train_parts {
    rp_model *m;
    rp_optim *opt;
    rp_unfreeze *unfreeze;
} rp_train_parts;

/* Write the state to path (PATH.tmp, fsync, rename). flags_json: a JSON object of the
 * settings a resumed run must share (string values); extra_json: the caller's bookkeeping
 * (any JSON, or NULL); weights_sha256: the checkpoint written with this state (or NULL). */
rp_status rp_trainstate_save(rp_ctx *ctx, const char *path, const rp_train_parts *p, const rp_train_position *pos,
                             const char *flags_json, const char *extra_json, const char *weights_sha256);

/* Restore a state into parts created exactly as the saving run's were (same model, flags,
 * optimizer, objective). flags_json is compared key by key with the file's: a key whose value
 * differs, or that only one side has, is RP_ERR_ARG naming the file, the key and both values.
 * A missing, truncated or foreign file, or tensors that do not fit the model, are errors
 * naming the file. *extra_json: OWNED copy of the caller's bookkeeping (free()), or NULL;
 * weights_sha256 (65 bytes, may be NULL): the link, "" when the file has none. Nothing is
 * modified unless every check passes. */
rp_status rp_trainstate_load(rp_ctx *ctx, const char *path, const rp_train_parts *p, const char *flags_json,
                             rp_train_position *pos, char **extra_json, char *weights_sha256);

#endif
