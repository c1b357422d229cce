/* PNG output (libpng) and a small canvas to compose image grids with labels in a built-in
 * 3x5 bitmap font (digits, A-Z with lower case drawn as upper case, and  : / - . = + % ( ) _ ,
 * '?' for anything else). */
#ifndef RP_IO_PNG_H
#define RP_IO_PNG_H

#include <stdint.h>

#include "core/status.h"

/* Write an 8-bit image pix (H, W, C), C = 1 (gray) or 3 (RGB), to path atomically
 * (io/atomic_file.h), so an existing file is never half-written. */
rp_status rp_png_write(rp_ctx *ctx, const char *path, const uint8_t *pix, int H, int W, int C);

/* Read a PNG as 8-bit RGB (for tests): OWNED *pix (H, W, 3), free() it. */
rp_status rp_png_read_rgb(rp_ctx *ctx, const char *path, uint8_t **pix, int *H, int *W);

typedef struct rp_canvas {
    int H, W;
    uint8_t *rgb; /* (H, W, 3) OWNED */
} rp_canvas;

rp_status rp_canvas_create(rp_ctx *ctx, rp_canvas *cv, int H, int W, uint8_t gray);
void rp_canvas_free(rp_canvas *cv);
/* Fill a rectangle (clipped to the canvas). */
void rp_canvas_fill(rp_canvas *cv, int y0, int x0, int h, int w, uint8_t r, uint8_t g, uint8_t b);
/* Draw img (h, w, c) with values in [0,1] (clipped), c = 1 or 3, with its top-left corner
 * at (y0, x0), each pixel magnified to a scale x scale block. */
void rp_canvas_image(rp_canvas *cv, int y0, int x0, const float *img, int h, int w, int c, int scale);
/* Text with its top-left corner at (y0, x0), each font pixel a scale x scale block. */
void rp_canvas_text(rp_canvas *cv, int y0, int x0, const char *text, int scale, uint8_t r, uint8_t g, uint8_t b);
/* rp_text_width and rp_text_height (the size of text) are public: rampart.h. */
rp_status rp_canvas_write_png(rp_ctx *ctx, const rp_canvas *cv, const char *path);

#endif
