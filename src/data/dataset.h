/* The in-memory data set behind rampart.h's opaque rp_dataset: uint8 pixels
 * (N, H, W, C), int32 labels, class names and the set's usual normalisation. */
#ifndef RP_DATA_DATASET_H
#define RP_DATA_DATASET_H

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

struct rp_dataset {
    char name[64];        /* "fashion-mnist", "mnist", "idx", "cifar10", "memory" */
    int N, H, W, C;
    int num_classes;
    uint8_t *pixels;      /* (N, H, W, C) */
    int32_t *labels;      /* (N) in [0, num_classes) */
    char **class_names;   /* num_classes strings, or NULL */
    float mean[4], std[4];
    int skipped;          /* image-file sets: unreadable images left out (skip_bad) */
    char skip_note[1024]; /* ... the first few reasons, one a line */
};

/* Where Debian's dataset-fashion-mnist installs the files (RAMPART_DATA_DIR overrides). */
#define RP_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define RP_MNIST_DIR "/usr/share/datasets/mnist"

/* A data set from memory (tests, synthetic data): pixels and labels are copied;
 * class_names may be NULL. Labels must lie in [0, num_classes). OWNED result. */
rp_status rp_dataset_from_memory(rp_ctx *ctx, const uint8_t *pixels, const int32_t *labels, int N, int H, int W,
                                 int C, int num_classes, const char *const *class_names, rp_dataset **out);

/* A seeded random permutation of 0..n-1 into idx (Fisher-Yates over rng), for
 * shuffled batches: batch b is idx[b*B .. (b+1)*B). */
void rp_shuffle_indices(int *idx, int n, rp_rng *rng);

#endif
