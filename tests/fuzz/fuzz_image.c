/* Fuzz the PNG and JPEG decoders the image-folder data sets use (src/data/image.c: libpng and
 * libjpeg-turbo behind rp_image_decode), and fitting a decoded image to 24x24 gray and 16x20 RGB
 * as the folder loader does. */
#include <stdlib.h>

#include "data/image.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_image im = {0};
    if (rp_image_decode(ctx, "fuzz", data, size, &im) == RP_OK) {
        /* a huge but valid image would only measure the resizer's speed */
        if ((size_t)im.H * im.W <= (size_t)1 << 20) {
            uint8_t gray[24 * 24], rgb[16 * 20 * 3];
            (void)rp_image_fit(ctx, &im, gray, 24, 24, 1);
            (void)rp_image_fit(ctx, &im, rgb, 16, 20, 3);
        }
        rp_image_free(&im);
    }
    rp_ctx_destroy(ctx);
    return 0;
}
