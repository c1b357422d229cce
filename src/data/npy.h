/* NumPy .npy files (format versions 1.0, 2.0 and 3.0, numpy.lib.format): the magic
 * "\x93NUMPY", major and minor version, the header length (u16 little-endian in v1, u32 in
 * v2/v3), then a Python dict literal {'descr': '|u1', 'fortran_order': False, 'shape': (N, H,
 * W, C), } padded with spaces to a multiple of 64 bytes, then the data. Read here: C-order
 * arrays of little-endian (or byte-sized) integers, the format of the published corrupted
 * sets (CIFAR-10-C: uint8 images (N, 32, 32, 3), uint8 labels (N,)). */
#ifndef RP_DATA_NPY_H
#define RP_DATA_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define RP_NPY_MAX_DIMS 8

/* An array's header. */
typedef struct rp_npy_info {
    char descr[16];     /* "|u1", "<i8", ... */
    char kind;          /* 'u' unsigned, 'i' signed integer; 'f', 'b', ... (not read) */
    int item_size;      /* bytes per element */
    int ndim;
    size_t shape[RP_NPY_MAX_DIMS];
    size_t count;       /* elements: the product of shape */
    long long data_offset; /* where the data starts */
} rp_npy_info;

/* The header of path; RP_ERR_FORMAT naming the file for a bad magic, an unknown version, a
 * header that is not such a dict, Fortran order, a big-endian multi-byte type, or a file
 * shorter (truncated) or longer than header + data; RP_ERR_IO when it cannot be read. */
rp_status rp_npy_info_read(rp_ctx *ctx, const char *path, rp_npy_info *info);

/* Rows [first, first + count) of a uint8 array of 4 dimensions (N, H, W, C): *pixels OWNED
 * (count * H * W * C bytes). count < 0: every row from first. RP_ERR_FORMAT naming the file
 * for another dtype or number of dimensions; RP_ERR_SHAPE when the rows are not there. */
rp_status rp_npy_read_images(rp_ctx *ctx, const char *path, int first, int count, uint8_t **pixels, int *N, int *H,
                             int *W, int *C);

/* Rows [first, first + count) of a 1-D array of integers of any size (|u1, <i2, <i4, <u8,
 * ...) as int32: *labels OWNED; values outside int32 are RP_ERR_FORMAT. count < 0: all from
 * first. */
rp_status rp_npy_read_labels(rp_ctx *ctx, const char *path, int first, int count, int32_t **labels, int *N);

#endif
