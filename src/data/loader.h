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

typedef struct rp_loader rp_loader;

typedef struct rp_loader_config {
    int batch;            /* B: images per batch (>= 1) */
    int workers;          /* threads preparing batches (0: in rp_loader_next) */
    int ahead;            /* batches prepared ahead, the ring (<= 0: 2 * workers, at least 2) */
    uint64_t seed;        /* shuffle and augmentation */
    bool shuffle;         /* epoch e's order is rp_permutation(seed, e); false: 0..n-1 */
    int first_epoch;      /* epoch of job 0 (the CLI counts from 1) */
    int first_batch;      /* the first batch handed out is this one of first_epoch (0..batches-1;
                             > 0 when a run resumes mid-epoch); epochs still count from
                             first_epoch */
    int epochs;           /* jobs stop after this many epochs (<= 0: never) */
    const char *augment;  /* augmentation spec (data/augment.h) or NULL / "" for none */
    float augment_prob;   /* default probability of each op */
    bool views;           /* also two augmented views of every image (rp_augment_views: the
                             spec needs a mixing op, augmix or prime; RP_ERR_ARG otherwise) */
    int part, parts;      /* data-parallel processes (parts > 1): each batch's images split into
                             `parts` contiguous pieces, this loader loading and augmenting piece
                             `part` only (the pieces' union is the one-process batch; a piece
                             may be empty, B = 0); parts <= 1: whole batches */
} rp_loader_config;

typedef struct rp_batch {
    int epoch, index;     /* which batch of which epoch */
    int B;                /* images in it (this process's part) */
    int B_all;            /* images in the whole batch, every part */
    const float *x;       /* (B, H, W, C) in [0, 1], BORROWED until the next rp_loader_next */
    const float *views;   /* (2, B, H, W, C) = [view1; view2] with cfg.views, else NULL; BORROWED */
    const int32_t *y;     /* (B) labels */
    const int *idx;       /* (B) sample indices */
} rp_batch;

/* OWNED. ds is BORROWED and must outlive the loader. Threads start here. */
rp_status rp_loader_create(rp_ctx *ctx, const rp_dataset *ds, const rp_loader_config *cfg, rp_loader **out);
/* Stops and joins the workers. */
void rp_loader_destroy(rp_loader *l);
/* Batches in one epoch: ceil(n / B). */
int rp_loader_batches(const rp_loader *l);
/* Hands back the previous batch and returns the next one, waiting for it when the
 * workers are behind. Returns false (out->B = 0) after the last epoch. */
bool rp_loader_next(rp_loader *l, rp_batch *out);
/* Seconds rp_loader_next spent waiting for workers since creation (a loader that keeps
 * ahead of the step waits ~0). */
double rp_loader_wait_seconds(const rp_loader *l);

#endif
