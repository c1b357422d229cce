/* JPEG and PNG decoding, and fitting an image to a model's input size (image.h). */
#include "data/image.h"

#include <errno.h>
#include <stdio.h>
/* jpeglib.h needs FILE and size_t declared first */
#include <jpeglib.h>
#include <jerror.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>

static const uint8_t JPEG_MAGIC[3] = {0xFF, 0xD8, 0xFF};
static const uint8_t PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

void rp_image_free(rp_image *im)
{
    if (!im) return;
    free(im->pixels);
    im->pixels = NULL;
}

static rp_status check_size(rp_ctx *ctx, const char *name, long H, long W)
{
    if (H < 1 || W < 1 || H > RP_IMAGE_MAX_SIDE || W > RP_IMAGE_MAX_SIDE)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: image size %ldx%ld is outside 1..%d", name, W, H, RP_IMAGE_MAX_SIDE);
    if (H * W > RP_IMAGE_MAX_PIXELS)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: image size %ldx%ld is %ld pixels, more than %ld", name, W, H, H * W,
                       (long)RP_IMAGE_MAX_PIXELS);
    return RP_OK;
}

/* ---- JPEG --------------------------------------------------------------------------- */

/* libjpeg reports errors through error_exit (which must not return) and warnings through
 * emit_message(-1). Both jump back here; the default handlers would print to stderr. */
typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    bool truncated;
} jpeg_err;

static void jpeg_on_error(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_on_message(j_common_ptr c, int level)
{
    /* A premature end is only a warning to libjpeg (it pads the image with gray); we
     * refuse such images. Other warnings (e.g. extraneous bytes) decode fine and pass. */
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_err *e = (jpeg_err *)c->err;
        c->err->format_message(c, e->msg);
        e->truncated = true;
        longjmp(e->jump, 1);
    }
}

static void jpeg_on_output(j_common_ptr c) { (void)c; }

/* Decode into out; header_only stops after the header (out->pixels stays NULL). */
static rp_status decode_jpeg(rp_ctx *ctx, const char *name, const uint8_t *data, size_t size, bool header_only,
                             rp_image *out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err err = {0};
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile cmyk = NULL;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    err.pub.output_message = jpeg_on_output;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(cmyk);
        if (err.truncated) return rp_fail(ctx, RP_ERR_FORMAT, "%s: truncated JPEG (%s)", name, err.msg);
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: corrupt JPEG: %s", name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    J_COLOR_SPACE cs = cinfo.jpeg_color_space;
    bool gray = cs == JCS_GRAYSCALE, four = cs == JCS_CMYK || cs == JCS_YCCK;
    out->H = (int)cinfo.image_height;
    out->W = (int)cinfo.image_width;
    out->C = gray ? 1 : 3;
    rp_status s = check_size(ctx, name, (long)cinfo.image_height, (long)cinfo.image_width);
    if (s != RP_OK || header_only) {
        jpeg_destroy_decompress(&cinfo);
        return s;
    }
    /* libjpeg has no CMYK -> RGB conversion: take CMYK and convert below */
    cinfo.out_color_space = gray ? JCS_GRAYSCALE : four ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int H = (int)cinfo.output_height, W = (int)cinfo.output_width, OC = cinfo.output_components;
    RP_ASSERT(OC == (gray ? 1 : four ? 4 : 3));
    pixels = malloc((size_t)H * W * out->C);
    if (four) cmyk = malloc((size_t)W * 4);
    if (!pixels || (four && !cmyk)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(cmyk);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory for a %dx%d image", name, W, H);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *row = pixels + (size_t)cinfo.output_scanline * W * out->C;
        JSAMPROW dst = four ? cmyk : row;
        jpeg_read_scanlines(&cinfo, &dst, 1);
        /* Adobe writes CMYK inverted (as libjpeg reads it): R = C * K / 255 */
        for (int x = 0; four && x < W; x++)
            for (int c = 0; c < 3; c++) row[x * 3 + c] = (uint8_t)((cmyk[x * 4 + c] * cmyk[x * 4 + 3] + 127) / 255);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(cmyk);
    out->H = H;
    out->W = W;
    out->pixels = pixels;
    return RP_OK;
}

/* ---- PNG ---------------------------------------------------------------------------- */

static rp_status decode_png(rp_ctx *ctx, const char *name, const uint8_t *data, size_t size, bool header_only,
                            rp_image *out)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, size))
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: corrupt PNG: %s", name, img.message);
    bool color = (img.format & PNG_FORMAT_FLAG_COLOR) != 0, alpha = (img.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    out->H = (int)img.height;
    out->W = (int)img.width;
    out->C = color ? 3 : 1;
    rp_status s = check_size(ctx, name, (long)img.height, (long)img.width);
    if (s != RP_OK || header_only) {
        png_image_free(&img);
        return s;
    }
    /* read with alpha when there is one, then drop it (no compositing, as PIL's convert) */
    img.format = color ? (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
    int IC = (int)PNG_IMAGE_PIXEL_CHANNELS(img.format);
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf) {
        png_image_free(&img);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory for a %dx%d image", name, out->W, out->H);
    }
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: corrupt PNG: %s", name, img.message);
    }
    size_t P = (size_t)out->H * out->W;
    for (size_t i = 0; IC != out->C && i < P; i++) /* in place: the write never passes the read */
        for (int c = 0; c < out->C; c++) buf[i * out->C + c] = buf[i * IC + c];
    out->pixels = buf;
    return RP_OK;
}

/* ---- files -------------------------------------------------------------------------- */

static rp_status decode_any(rp_ctx *ctx, const char *name, const uint8_t *data, size_t size, bool header_only,
                            rp_image *out)
{
    memset(out, 0, sizeof *out);
    if (size == 0) return rp_fail(ctx, RP_ERR_FORMAT, "%s: empty file, not an image", name);
    if (size >= sizeof JPEG_MAGIC && memcmp(data, JPEG_MAGIC, sizeof JPEG_MAGIC) == 0)
        return decode_jpeg(ctx, name, data, size, header_only, out);
    if (size >= sizeof PNG_MAGIC && memcmp(data, PNG_MAGIC, sizeof PNG_MAGIC) == 0)
        return decode_png(ctx, name, data, size, header_only, out);
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0; i < size && i < 8; i++) snprintf(hex + 3 * i, 4, "%02x ", data[i]);
    if (hex[0]) hex[strlen(hex) - 1] = '\0';
    return rp_fail(ctx, RP_ERR_FORMAT, "%s: not a JPEG or PNG image (starts with bytes %s)", name, hex);
}

rp_status rp_image_decode(rp_ctx *ctx, const char *name, const uint8_t *data, size_t size, rp_image *out)
{
    return decode_any(ctx, name, data, size, false, out);
}

/* The whole file, or at most `limit` bytes when limit > 0. OWNED *data. */
static rp_status read_file(rp_ctx *ctx, const char *path, size_t limit, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = limit > 0 ? limit : 65536, n = 0;
    uint8_t *buf = malloc(cap);
    rp_status s = buf ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    while (s == RP_OK) {
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f)) s = rp_fail(ctx, RP_ERR_IO, "%s: read error", path);
        if (s != RP_OK || n < cap || limit > 0) break;
        uint8_t *bigger = cap < ((size_t)1 << 31) ? realloc(buf, cap * 2) : NULL;
        if (!bigger) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: file too large", path);
        else buf = bigger, cap *= 2;
    }
    fclose(f);
    if (s != RP_OK) {
        free(buf);
        return s;
    }
    *data = buf;
    *size = n;
    return RP_OK;
}

rp_status rp_image_read(rp_ctx *ctx, const char *path, rp_image *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t size;
    RP_TRY(read_file(ctx, path, 0, &data, &size));
    rp_status s = decode_any(ctx, path, data, size, false, out);
    free(data);
    return s;
}

rp_status rp_image_probe(rp_ctx *ctx, const char *path, int *H, int *W, int *C)
{
    uint8_t *data;
    size_t size;
    RP_TRY(read_file(ctx, path, 0, &data, &size));
    rp_image im;
    rp_status s = decode_any(ctx, path, data, size, true, &im);
    free(data);
    *H = im.H;
    *W = im.W;
    *C = im.C;
    return s;
}

/* ---- fitting ------------------------------------------------------------------------ */

/* Resampling follows PIL's (which torchvision's Resize uses on PIL images), so that images
 * fitted here equal the ones a PyTorch pipeline would feed a pretrained model: separable
 * passes, columns then rows, each rounded to 8 bits, with weights in fixed point. */
#define FIX_BITS 22 /* 32 - 8 - 2, as PIL: 255 * 2^22 sums fit in an int32 */

/* Filter taps along one axis: output positions off..off+n-1 of a resized axis of length
 * R drawn from an input axis of length in. Tap k of output i reads input first[i] + k
 * with weight w[i * max + k] / 2^FIX_BITS, for k < count[i]. */
typedef struct taps {
    int *first, *count;
    int32_t *w;
    int max;
} taps;

static void taps_free(taps *t)
{
    free(t->first);
    free(t->count);
    free(t->w);
}

static bool taps_make(taps *t, int in, int R, int off, int n)
{
    double scale = (double)in / R, fs = scale > 1.0 ? scale : 1.0, support = fs; /* triangle radius 1, widened */
    t->max = (int)ceil(support) * 2 + 2;
    t->first = malloc((size_t)n * sizeof *t->first);
    t->count = malloc((size_t)n * sizeof *t->count);
    t->w = malloc((size_t)n * t->max * sizeof *t->w);
    double *wd = malloc((size_t)t->max * sizeof *wd);
    bool ok = t->first && t->count && t->w && wd;
    for (int i = 0; ok && i < n; i++) {
        double centre = (off + i + 0.5) * scale; /* in input pixel units, edges at integers */
        int lo = (int)floor(centre - support + 0.5), hi = (int)floor(centre + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        RP_ASSERT(hi > lo && hi - lo <= t->max);
        double sum = 0;
        for (int x = lo; x < hi; x++) {
            double d = fabs((x + 0.5 - centre) / fs);
            sum += wd[x - lo] = d < 1.0 ? 1.0 - d : 0.0;
        }
        int32_t *w = t->w + (size_t)i * t->max;
        for (int k = 0; k < hi - lo; k++) w[k] = (int32_t)(wd[k] / sum * (double)(1 << FIX_BITS) + 0.5);
        t->first[i] = lo;
        t->count[i] = hi - lo;
    }
    free(wd);
    return ok;
}

static uint8_t fix_to_u8(int32_t acc) /* acc carries the rounding half already */
{
    int32_t v = acc >> FIX_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* torchvision's center_crop offset: round(d / 2), halves to even (Python's round). */
static int centre_offset(int d) { return d % 2 == 0 ? d / 2 : (d / 2) % 2 == 0 ? d / 2 : d / 2 + 1; }

/* Resampled window (H, W, Cs) of src into out: columns first (into tmp), then rows. */
static rp_status resample(rp_ctx *ctx, const rp_image *src, uint8_t *out, int H, int W, int RH, int RW)
{
    const int Cs = src->C, oy = centre_offset(RH - H), ox = centre_offset(RW - W);
    const int32_t half = 1 << (FIX_BITS - 1);
    taps ty = {0}, tx = {0};
    uint8_t *tmp = NULL;
    rp_status s = RP_OK;
    if (!taps_make(&ty, src->H, RH, oy, H) || !taps_make(&tx, src->W, RW, ox, W)) {
        s = rp_fail(ctx, RP_ERR_NOMEM, "out of memory resizing a %dx%d image", src->W, src->H);
        goto done;
    }
    int r0 = ty.first[0], r1 = ty.first[H - 1] + ty.count[H - 1]; /* source rows used */
    tmp = malloc((size_t)(r1 - r0) * W * Cs);                     /* (r1 - r0, W, Cs) */
    if (!tmp) {
        s = rp_fail(ctx, RP_ERR_NOMEM, "out of memory resizing a %dx%d image", src->W, src->H);
        goto done;
    }
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = src->pixels + (size_t)r * src->W * Cs;
        for (int x = 0; x < W; x++) {
            const int32_t *w = tx.w + (size_t)x * tx.max;
            const uint8_t *p = row + (size_t)tx.first[x] * Cs;
            for (int c = 0; c < Cs; c++) {
                int32_t acc = half;
                for (int k = 0; k < tx.count[x]; k++) acc += w[k] * p[k * Cs + c];
                tmp[((size_t)(r - r0) * W + x) * Cs + c] = fix_to_u8(acc);
            }
        }
    }
    for (int y = 0; y < H; y++) {
        const int32_t *w = ty.w + (size_t)y * ty.max;
        const uint8_t *base = tmp + (size_t)(ty.first[y] - r0) * W * Cs;
        for (size_t j = 0; j < (size_t)W * Cs; j++) {
            int32_t acc = half;
            for (int k = 0; k < ty.count[y]; k++) acc += w[k] * base[(size_t)k * W * Cs + j];
            out[(size_t)y * W * Cs + j] = fix_to_u8(acc);
        }
    }
done:
    free(tmp);
    taps_free(&ty);
    taps_free(&tx);
    return s;
}

/* (P, Cs) -> (P, C) for C, Cs in {1, 3}. */
static void convert_channels(const uint8_t *src, int Cs, uint8_t *dst, int C, size_t P)
{
    for (size_t i = 0; i < P; i++) {
        const uint8_t *p = src + i * Cs;
        uint8_t *q = dst + i * C;
        if (Cs == C) memcpy(q, p, (size_t)C);
        else if (Cs == 1) q[0] = q[1] = q[2] = p[0];
        else q[0] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16); /* PIL's "L" */
    }
}

rp_status rp_image_fit(rp_ctx *ctx, const rp_image *src, uint8_t *dst, int H, int W, int C)
{
    RP_ASSERT(H >= 1 && W >= 1 && (C == 1 || C == 3) && (src->C == 1 || src->C == 3));
    const size_t P = (size_t)H * W;
    if (src->H == H && src->W == W) {
        convert_channels(src->pixels, src->C, dst, C, P);
        return RP_OK;
    }
    /* resized size R: the axis that needs the larger scale matches exactly */
    int RH, RW;
    if ((int64_t)H * src->W >= (int64_t)W * src->H) {
        RH = H;
        RW = (int)((int64_t)src->W * H / src->H);
        RW = RW < W ? W : RW;
    } else {
        RW = W;
        RH = (int)((int64_t)src->H * W / src->W);
        RH = RH < H ? H : RH;
    }
    uint8_t *win = src->C == C ? dst : malloc(P * src->C);
    if (!win) return rp_fail(ctx, RP_ERR_NOMEM, "out of memory resizing a %dx%d image", src->W, src->H);
    rp_status s = resample(ctx, src, win, H, W, RH, RW);
    if (s == RP_OK && win != dst) convert_channels(win, src->C, dst, C, P);
    if (win != dst) free(win);
    return s;
}
