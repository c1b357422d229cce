/* Fuzz the safetensors reader (src/io/safetensors.c) and the checkpoint loader on top of it
 * (src/io/checkpoint.c: metadata -> model config -> model -> weights): every tensor converted to
 * float32, the metadata looked up, then rp_model_load and the class names. */
#include <stdlib.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("st", data, size);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = NULL;
    if (rp_st_open(ctx, path, &f) == RP_OK) {
        for (int i = 0; i < rp_st_count(f); i++) {
            const rp_st_tensor *t = rp_st_at(f, i);
            float *dst = t->numel <= ((size_t)1 << 24) ? malloc((t->numel ? t->numel : 1) * sizeof(float)) : NULL;
            if (dst) (void)rp_st_read_f32(ctx, f, t->name, dst, t->numel);
            free(dst);
            (void)rp_st_find(f, t->name);
        }
        (void)rp_st_meta(f, "format");
        rp_st_close(f);
        rp_model *m = NULL;
        if (rp_model_load(ctx, path, 1, &m) == RP_OK) rp_model_destroy(m);
        char **names = NULL;
        int n = 0;
        if (rp_checkpoint_class_names(ctx, path, &names, &n) == RP_OK) rp_checkpoint_free_names(names, n);
    }
    rp_ctx_destroy(ctx);
    remove(path);
    return 0;
}
