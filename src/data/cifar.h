/* CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html): files of
 * 3073-byte records, one label byte then 1024 red, 1024 green, 1024 blue bytes
 * (32x32 planes, row-major). Train: data_batch_1..5.bin, test: test_batch.bin;
 * batches.meta.txt holds the class names, one per line. */
#ifndef RP_DATA_CIFAR_H
#define RP_DATA_CIFAR_H

#include <stdint.h>

#include "core/status.h"

#define RP_CIFAR_SIDE 32
#define RP_CIFAR_RECORD (1 + 3 * RP_CIFAR_SIDE * RP_CIFAR_SIDE)
#define RP_CIFAR_CLASSES 10

/* Read records from n_files files, in order, into *pixels (N, 32, 32, 3) HWC and
 * *labels (N), both OWNED. Errors name the file: missing, empty, size not a multiple
 * of 3073 (truncated), label >= 10. */
rp_status rp_cifar_read(rp_ctx *ctx, const char *const *files, int n_files, uint8_t **pixels, uint8_t **labels,
                        int *N);
/* Class names from DIR/batches.meta.txt: *names OWNED (10 strings, free each and the
 * array), or NULL when the file does not exist. Fewer than 10 names is an error. */
rp_status rp_cifar_read_names(rp_ctx *ctx, const char *dir, char ***names);
/* One record (3073 bytes) to an HWC image and its label. */
void rp_cifar_record_to_hwc(const uint8_t *record, uint8_t *hwc, uint8_t *label);

#endif
