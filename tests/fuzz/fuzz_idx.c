/* Fuzz the IDX reader (src/data/idx.c): the same bytes as an image file and as a label file,
 * raw or gzip (zlib decides by the first bytes). */
#include <stdlib.h>

#include "data/idx.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("idx", data, size);
    rp_ctx *ctx = rp_ctx_create(1);
    uint8_t *pix = NULL, *lab = NULL;
    int N, H, W;
    if (rp_idx_read_images(ctx, path, &pix, &N, &H, &W) == RP_OK && N > 0) /* touch every byte read */
        pix[(size_t)N * H * W - 1] ^= pix[0];
    free(pix);
    if (rp_idx_read_labels(ctx, path, &lab, &N) == RP_OK && N > 0) lab[N - 1] ^= lab[0];
    free(lab);
    rp_ctx_destroy(ctx);
    remove(path);
    return 0;
}
