/* safetensors (https://huggingface.co/docs/safetensors): u64 LE header length N,
 * N bytes of JSON header {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__":
 * {str: str}}, then the data. Offsets are relative to the data start, tensors are
 * contiguous with no gaps and end at the end of the file. */
#ifndef RP_IO_SAFETENSORS_H
#define RP_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum rp_st_dtype { RP_ST_F32, RP_ST_F64, RP_ST_F16, RP_ST_BF16, RP_ST_I64, RP_ST_I32,
                           RP_ST_U8, RP_ST_BOOL } rp_st_dtype;

typedef struct rp_st_tensor {
    char *name;
    rp_st_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t numel;
    const unsigned char *data; /* BORROWED into the file's buffer */
    size_t nbytes;
} rp_st_tensor;

typedef struct rp_st_file rp_st_file;

/* Read and validate a whole file (header length, JSON, dtypes, shapes vs byte sizes,
 * offsets in order, without gaps or overlaps, ending at the end of the file).
 * Errors name the path and what was wrong. OWNED result. */
rp_status rp_st_open(rp_ctx *ctx, const char *path, rp_st_file **out);
void rp_st_close(rp_st_file *f);
int rp_st_count(const rp_st_file *f);
const rp_st_tensor *rp_st_at(const rp_st_file *f, int i);
/* NULL when absent. */
const rp_st_tensor *rp_st_find(const rp_st_file *f, const char *name);
/* Metadata value for key, NULL when absent. BORROWED. */
const char *rp_st_meta(const rp_st_file *f, const char *key);
const char *rp_st_path(const rp_st_file *f);
/* "F32", "I64", ... STATIC string. */
const char *rp_st_dtype_name(rp_st_dtype d);
/* Copy tensor `name` converted to float32 into dst, which holds numel floats; fails
 * (naming file and tensor) when absent or when the element count differs. */
rp_status rp_st_read_f32(rp_ctx *ctx, const rp_st_file *f, const char *name, float *dst,
                         size_t numel);

/* Writing. Tensors are given as float32 data (converted to dtype on write, which may
 * be RP_ST_F32 or RP_ST_I64). The file is written to PATH.tmp, fsynced and renamed. */
typedef struct rp_st_entry {
    const char *name;
    rp_st_dtype dtype; /* RP_ST_F32 or RP_ST_I64 */
    int ndim;
    int64_t shape[8];
    const float *data;
} rp_st_entry;

rp_status rp_st_write(rp_ctx *ctx, const char *path, const rp_st_entry *tensors, int n,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta);

#endif
