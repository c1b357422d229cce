/* Processes working together over MPI (data-parallel training, sharded evaluation): the
 * rp_dist API is public (include/rampart.h, "processes (MPI)"), where it is documented; this
 * header is what the library's own files include. A build with MPI defines RP_HAVE_MPI. */
#ifndef RP_DIST_DIST_H
#define RP_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* A bucketed, non-blocking rp_dist_sum_f32 (data-parallel training's gradient sum, overlapped
 * with the backward): buf is split into buckets, bucket k = [ends[k - 1], ends[k]) (ends[-1] =
 * 0), each summed over the ranks on its own once started, on communicators of the handle's own
 * (never MPI_COMM_WORLD, where the batch norms' collectives run meanwhile). The result is
 * rp_dist_sum_f32's over the whole buffer, bit for bit: every element is still added in rank
 * order. Every rank must start the same buckets in the same order (the order is free: training
 * starts them from the last); between rounds the caller may rewrite buf. Only the calling thread
 * uses MPI: no thread of its own, so no MPI_THREAD_MULTIPLE. One rank: every call is the identity. */
typedef struct rp_dist_bsum rp_dist_bsum;
/* OWNED: the buckets' state and receive buffers (about one value per value of buf); buf and d
 * BORROWED, and must outlive it. */
rp_status rp_dist_bsum_create(rp_dist *d, float *buf, const size_t *ends, int n_buckets, rp_dist_bsum **out);
void rp_dist_bsum_destroy(rp_dist_bsum *s);
/* Bucket k's values are final on this rank: its all-to-all starts (its range of buf must not
 * change until the wait). Also advances the buckets under way, as progress does. */
rp_status rp_dist_bsum_start(rp_dist_bsum *s, int k);
bool rp_dist_bsum_started(const rp_dist_bsum *s, int k);
/* Tests the buckets under way (MPI_Test: no waiting), and for each whose all-to-all is
 * complete -- in start order -- adds its parts and starts its all-gather. Cheap: call it
 * between pieces of other work so that the messages move meanwhile. */
void rp_dist_bsum_progress(rp_dist_bsum *s);
/* Completes every started bucket (buckets never started are left as they were) and ends the
 * round: the next one starts every bucket afresh. The first failure since the round began. */
rp_status rp_dist_bsum_wait(rp_dist_bsum *s);

#endif
