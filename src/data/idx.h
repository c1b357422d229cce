/* IDX files (the MNIST format, http://yann.lecun.com/exdb/mnist/): 4-byte magic
 * 0x00 0x00 TYPE NDIM, NDIM big-endian u32 dimensions, then the data. Only unsigned
 * bytes (TYPE 0x08) are read: images 0x00000803 (N, H, W), labels 0x00000801 (N).
 * Files may be raw or gzip-compressed (zlib reads both). */
#ifndef RP_DATA_IDX_H
#define RP_DATA_IDX_H

#include <stdint.h>

#include "core/status.h"

#define RP_IDX_IMAGES 0x00000803u
#define RP_IDX_LABELS 0x00000801u

/* Images: *pixels OWNED (N*H*W bytes, row-major), or errors naming path: missing file,
 * wrong magic, truncated data, trailing data, empty dimensions. */
rp_status rp_idx_read_images(rp_ctx *ctx, const char *path, uint8_t **pixels, int *N, int *H, int *W);
/* Labels: *labels OWNED (N bytes). */
rp_status rp_idx_read_labels(rp_ctx *ctx, const char *path, uint8_t **labels, int *N);

#endif
