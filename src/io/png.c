#include "io/png.h"

#include "io/atomic_file.h"

#include <ctype.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rp_status rp_png_write(rp_ctx *ctx, const char *path, const uint8_t *pix, int H, int W, int C)
{
    if (H < 1 || W < 1 || (C != 1 && C != 3))
        return rp_fail(ctx, RP_ERR_ARG, "%s: cannot write a %dx%dx%d image as PNG", path, H, W, C);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)W;
    img.height = (png_uint_32)H;
    img.format = C == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    rp_atomic_file af;
    RP_TRY(rp_atomic_open(ctx, &af, path));
    if (!png_image_write_to_stdio(&img, af.fp, 0, pix, (png_int_32)((size_t)W * C), NULL)) {
        rp_atomic_abort(&af);
        rp_status s = rp_fail(ctx, RP_ERR_IO, "%s: cannot write PNG: %s", path, img.message);
        png_image_free(&img);
        return s;
    }
    return rp_atomic_commit(ctx, &af, true);
}

rp_status rp_png_read_rgb(rp_ctx *ctx, const char *path, uint8_t **pix, int *H, int *W)
{
    *pix = NULL;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return rp_fail(ctx, RP_ERR_IO, "%s: cannot read PNG: %s", path, img.message);
    img.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf) {
        png_image_free(&img);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: bad PNG: %s", path, img.message);
    }
    *pix = buf;
    *H = (int)img.height;
    *W = (int)img.width;
    return RP_OK;
}

rp_status rp_canvas_create(rp_ctx *ctx, rp_canvas *cv, int H, int W, uint8_t gray)
{
    cv->H = H;
    cv->W = W;
    cv->rgb = malloc((size_t)H * W * 3);
    if (!cv->rgb) return rp_fail(ctx, RP_ERR_NOMEM, "canvas %dx%d: out of memory", H, W);
    memset(cv->rgb, gray, (size_t)H * W * 3);
    return RP_OK;
}

void rp_canvas_free(rp_canvas *cv)
{
    free(cv->rgb);
    cv->rgb = NULL;
}

static void put(rp_canvas *cv, int y, int x, uint8_t r, uint8_t g, uint8_t b)
{
    if (y < 0 || y >= cv->H || x < 0 || x >= cv->W) return;
    uint8_t *p = cv->rgb + ((size_t)y * cv->W + x) * 3;
    p[0] = r, p[1] = g, p[2] = b;
}

void rp_canvas_fill(rp_canvas *cv, int y0, int x0, int h, int w, uint8_t r, uint8_t g, uint8_t b)
{
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) put(cv, y, x, r, g, b);
}

static uint8_t to_u8(float v) { return v <= 0.0f ? 0 : v >= 1.0f ? 255 : (uint8_t)(v * 255.0f + 0.5f); }

void rp_canvas_image(rp_canvas *cv, int y0, int x0, const float *img, int h, int w, int c, int scale)
{
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            const float *p = img + ((size_t)i * w + j) * c;
            uint8_t r = to_u8(p[0]), g = c == 3 ? to_u8(p[1]) : r, b = c == 3 ? to_u8(p[2]) : r;
            rp_canvas_fill(cv, y0 + i * scale, x0 + j * scale, scale, scale, r, g, b);
        }
}

/* 3x5 glyphs: five rows of three bits, 4 = left column. */
static const struct {
    char ch;
    uint8_t rows[5];
} FONT[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}},
    {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}}, {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}},
    {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}}, {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}},
    {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}}, {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}},
    {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}}, {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}},
    {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}}, {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}},
    {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}}, {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
    {':', {0, 2, 0, 2, 0}}, {'/', {1, 1, 2, 4, 4}}, {'-', {0, 0, 7, 0, 0}}, {'.', {0, 0, 0, 0, 2}},
    {'=', {0, 7, 0, 7, 0}}, {'+', {0, 2, 7, 2, 0}}, {'%', {5, 1, 2, 4, 5}}, {'(', {1, 2, 2, 2, 1}},
    {')', {4, 2, 2, 2, 4}}, {'_', {0, 0, 0, 0, 7}}, {',', {0, 0, 0, 2, 4}}, {' ', {0, 0, 0, 0, 0}},
    {'?', {7, 1, 2, 0, 2}},
};

static const uint8_t *glyph(char ch)
{
    char u = (char)toupper((unsigned char)ch);
    size_t n = sizeof FONT / sizeof FONT[0];
    for (size_t i = 0; i < n; i++)
        if (FONT[i].ch == u) return FONT[i].rows;
    return FONT[n - 1].rows;
}

int rp_text_height(int scale) { return 5 * scale; }

int rp_text_width(const char *text, int scale)
{
    int n = text ? (int)strlen(text) : 0;
    return n == 0 ? 0 : (4 * n - 1) * scale;
}

void rp_canvas_text(rp_canvas *cv, int y0, int x0, const char *text, int scale, uint8_t r, uint8_t g, uint8_t b)
{
    for (int k = 0; text[k]; k++) {
        const uint8_t *rows = glyph(text[k]);
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 3; j++)
                if (rows[i] & (4 >> j)) rp_canvas_fill(cv, y0 + i * scale, x0 + (4 * k + j) * scale, scale, scale, r, g, b);
    }
}

rp_status rp_canvas_write_png(rp_ctx *ctx, const rp_canvas *cv, const char *path)
{
    return rp_png_write(ctx, path, cv->rgb, cv->H, cv->W, 3);
}
