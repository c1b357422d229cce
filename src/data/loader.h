/* The batch loader: worker threads (pthreads) gather samples of an in-memory data set,
 * convert them to floats in [0, 1], augment them and hand out whole batches ahead of the
 * training step.
 *
 * Jobs are numbered across epochs: job j is batch b = j % batches of epoch
 * first_epoch + j / batches. Batch b of epoch e holds samples perm_e[b*B .. b*B+B) where
 * perm_e = rp_permutation(n, seed, e) (the identity without shuffling), the last batch
 * of an epoch being smaller when B does not divide n. Each image is augmented from its own
 * stream, keyed by (seed, epoch, sample index) (rp_rng_seed_key): what an image becomes
 * depends only on (seed, epoch, image), never on the batch size, the batch it lands in, the
 * number of workers or processes, or timing.
 *
 * With parts > 1 the loader is one process's share of a data-parallel job (see part, parts).
 *
 * Memory is bounded: a ring of `ahead` batch buffers; job j fills slot j % ahead once the
 * consumer has handed back job j - ahead. With workers = 0 the caller's thread prepares
 * each batch inside rp_loader_next (same batches, no threads). */
#ifndef RP_DATA_LOADER_H
#define RP_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

/* rp_loader, rp_loader_config, rp_batch and rp_loader_create/destroy/batches/next are public:
 * rampart.h. */

/* Seconds rp_loader_next spent waiting for workers since creation (a loader that keeps
 * ahead of the step waits ~0). */
double rp_loader_wait_seconds(const rp_loader *l);

#endif
