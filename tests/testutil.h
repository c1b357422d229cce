/* Shared test helpers: cmocka plus finite-difference gradient checks and PyTorch
 * reference files. */
#ifndef RP_TESTUTIL_H
#define RP_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/graph.h"

/* Fill with U(lo, hi) from a seeded stream. */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* got must be want and, when msg is not NULL, ctx's message must contain msg. */
void tu_expect_status(rp_status got, rp_status want, const rp_ctx *ctx, const char *msg);
/* Fill with values whose magnitude is at least gap away from each of the kinks
 * (e.g. 0 and 6 for ReLU6), so central differences never straddle one. */
void tu_fill_away_from(float *x, size_t n, float lo, float hi, const float *kinks, int n_kinks,
                       float gap, uint64_t seed);

/* Fail (cmocka) unless |a - b| <= atol + rtol * |b| for every element; the message
 * names what, the first bad index and both values. */
void tu_assert_close(const char *what, const float *a, const float *b, size_t n, float rtol,
                     float atol);

/* Gradient check of whatever `build` adds after the graph input: loss = sum(y * r)
 * with fixed random r, compared by central differences (step eps, loss summed in
 * double) against backward, for the input gradient and every trainable parameter.
 * Up to max_checks coordinates per tensor (spread evenly). */
typedef int (*tu_build_fn)(rp_graph *g, int input, void *arg);
typedef struct tu_gc_opts {
    int B;
    bool train;
    float eps, rtol, atol;
    int max_checks;
    float lo, hi;          /* input range */
    const float *kinks;    /* keep inputs away from these */
    int n_kinks;
    uint64_t seed;
    const float *x0;       /* when set: the input to use (B * numel floats), e.g. distinct
                              values for max-pool, instead of a random fill */
    /* when set: called once right after finalize (parameters initialised), e.g. to give
       BatchNorm non-trivial gamma/beta/running statistics through g->params */
    void (*after_finalize)(rp_graph *g, void *arg);
} tu_gc_opts;
void tu_gradcheck(rp_shape in, tu_build_fn build, void *arg, const tu_gc_opts *o);

/* Path of a reference file in $RAMPART_REF_DIR, into buf. */
const char *tu_ref_path(char *buf, size_t size, const char *name);
/* A fresh temporary directory, removed with its contents when the test program exits
 * (RAMPART_KEEP_TEST_TMP=1 keeps it and prints its path); BORROWED static buffer. */
const char *tu_tmpdir(void);
/* Write bytes to path (for bad-input tests). */
void tu_write_file(const char *path, const void *data, size_t n);

/* One graph with its own one-thread context, for layer tests. */
typedef struct tu_graph {
    rp_ctx *ctx;
    rp_graph g;
} tu_graph;
void tu_graph_init(tu_graph *o, rp_shape in);
void tu_graph_free(tu_graph *o);

#endif
