/* Fuzz the NumPy .npy reader (src/data/npy.c): the header, and the bytes read as images
 * (uint8, 4-D) and as labels (1-D integers), whole and from row 1. */
#include <stdlib.h>

#include "data/npy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("npy", data, size);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_npy_info info;
    (void)rp_npy_info_read(ctx, path, &info);
    for (int first = 0; first < 2; first++) {
        uint8_t *pix = NULL;
        int N, H, W, C;
        if (rp_npy_read_images(ctx, path, first, -1, &pix, &N, &H, &W, &C) == RP_OK && N > 0)
            pix[(size_t)N * H * W * C - 1] ^= pix[0];
        free(pix);
        int32_t *lab = NULL;
        if (rp_npy_read_labels(ctx, path, first, -1, &lab, &N) == RP_OK && N > 0) lab[N - 1] ^= lab[0];
        free(lab);
    }
    rp_ctx_destroy(ctx);
    remove(path);
    return 0;
}
