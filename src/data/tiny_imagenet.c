/* "tiny-imagenet:DIR[,SIZE]": Tiny ImageNet 200's layout.
 *   wnids.txt                         the classes, one WordNet id a line (sorted here: the
 *                                     label order, recorded as the class names)
 *   train/<wnid>/images/<name>.JPEG   training images
 *   val/images/val_<i>.JPEG           validation images, labelled by
 *   val/val_annotations.txt           "val_0.JPEG<TAB>n03444034<TAB>x0<TAB>y0<TAB>x1<TAB>y1"
 * A few of the JPEGs are grayscale: they are decoded to 3 channels. */
#include <errno.h>
#include <string.h>

#include "data/dataset.h"
#include "data/image.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* One line of f without its end of line, into buf; false at the end of the file. Lines
 * longer than buf are an error (*too_long). */
static bool read_line(FILE *f, char *buf, size_t size, bool *too_long)
{
    *too_long = false;
    if (!fgets(buf, (int)size, f)) return false;
    size_t n = strlen(buf);
    if (n == size - 1 && buf[n - 1] != '\n' && !feof(f)) *too_long = true;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    return true;
}

/* The sorted wnids of DIR/wnids.txt. OWNED. */
static rp_status read_wnids(rp_ctx *ctx, const char *dir, char ***wnids, int *K)
{
    char path[4200], line[256];
    snprintf(path, sizeof path, "%s/wnids.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char **v = NULL;
    int n = 0, cap = 0, lineno = 0;
    rp_status s = RP_OK;
    bool too_long;
    while (s == RP_OK && read_line(f, line, sizeof line, &too_long)) {
        lineno++;
        if (too_long) s = rp_fail(ctx, RP_ERR_FORMAT, "%s:%d: line too long for a wnid", path, lineno);
        if (s != RP_OK || !line[0]) continue;
        if (strpbrk(line, " \t/")) s = rp_fail(ctx, RP_ERR_FORMAT, "%s:%d: '%s' is not a wnid", path, lineno, line);
        if (s == RP_OK && n == cap) {
            cap = cap ? 2 * cap : 256;
            char **bigger = realloc(v, (size_t)cap * sizeof *v);
            if (!bigger) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
            else v = bigger;
        }
        if (s == RP_OK) {
            size_t len = strlen(line) + 1;
            if (!(v[n] = malloc(len))) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
            else memcpy(v[n++], line, len);
        }
    }
    fclose(f);
    if (s == RP_OK && n < 2) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: %d wnids; a data set needs at least 2", path, n);
    if (s == RP_OK) qsort(v, (size_t)n, sizeof *v, cmp_str);
    for (int i = 1; s == RP_OK && i < n; i++)
        if (!strcmp(v[i - 1], v[i])) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: wnid %s is listed twice", path, v[i]);
    if (s != RP_OK) {
        rp_free_strings(v, n);
        return s;
    }
    *wnids = v;
    *K = n;
    return RP_OK;
}

static rp_status list_train(rp_ctx *ctx, const char *dir, char **wnids, int K, rp_image_list *l)
{
    char sub[4400];
    for (int k = 0; k < K; k++) {
        snprintf(sub, sizeof sub, "%s/train/%s/images", dir, wnids[k]);
        RP_TRY(rp_image_list_add_folder(ctx, l, sub, k));
    }
    return RP_OK;
}

static int find_wnid(char **wnids, int K, const char *w)
{
    char **hit = bsearch(&w, wnids, (size_t)K, sizeof *wnids, cmp_str);
    return hit ? (int)(hit - wnids) : -1;
}

static rp_status list_val(rp_ctx *ctx, const char *dir, char **wnids, int K, rp_image_list *l)
{
    char ann[4200], line[1024], path[8400];
    snprintf(ann, sizeof ann, "%s/val/val_annotations.txt", dir);
    FILE *f = fopen(ann, "r");
    if (!f)
        return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s (the validation labels of Tiny ImageNet)", ann,
                       strerror(errno));
    rp_status s = RP_OK;
    int lineno = 0;
    bool too_long;
    while (s == RP_OK && read_line(f, line, sizeof line, &too_long)) {
        lineno++;
        if (too_long) s = rp_fail(ctx, RP_ERR_FORMAT, "%s:%d: line too long", ann, lineno);
        if (s != RP_OK || !line[0]) continue;
        char *tab = strchr(line, '\t'), *wnid = tab ? tab + 1 : NULL, *end = wnid ? strchr(wnid, '\t') : NULL;
        if (!tab || tab == line || !wnid[0] || end == wnid) {
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s:%d: expected FILE<TAB>WNID<TAB>box, got '%s'", ann, lineno, line);
            break;
        }
        *tab = '\0';
        if (end) *end = '\0';
        int k = find_wnid(wnids, K, wnid);
        if (k < 0) {
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s:%d: wnid '%s' of %s is not in wnids.txt", ann, lineno, wnid, line);
            break;
        }
        snprintf(path, sizeof path, "%s/val/images/%s", dir, line);
        s = rp_image_list_add(ctx, l, path, k);
    }
    fclose(f);
    if (s == RP_OK && l->n == 0) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: no images listed", ann);
    return s;
}

static rp_status tiny_open(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt, rp_image_list *l,
                           rp_dataset **out)
{
    char dir[4096], what[4200];
    int H, W, C, K = 0;
    RP_TRY(rp_image_spec_parse(ctx, spec, spec + 14, dir, sizeof dir, &H, &W, &C));
    if (H == 0) H = W = 64;
    char **wnids = NULL;
    RP_TRY(read_wnids(ctx, dir, &wnids, &K));
    rp_status s = train ? list_train(ctx, dir, wnids, K, l) : list_val(ctx, dir, wnids, K, l);
    if (s == RP_OK && train) s = rp_image_list_interleave(ctx, l, K);
    rp_dataset *ds = s == RP_OK ? rp_image_dataset_new(ctx, "tiny-imagenet", wnids, K, C) : NULL;
    if (s != RP_OK) rp_free_strings(wnids, K);
    else if (!ds) s = RP_ERR_NOMEM;
    snprintf(what, sizeof what, "%s/%s", dir, train ? "train" : "val");
    if (s == RP_OK) s = rp_image_set_decode(ctx, l, H, W, C, opt, what, ds);
    if (s != RP_OK) {
        rp_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return RP_OK;
}

rp_status rp_tiny_imagenet_open(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt,
                                rp_dataset **out)
{
    *out = NULL;
    rp_image_list l = {0};
    rp_status s = tiny_open(ctx, spec, train, opt, &l, out);
    rp_image_list_free(&l);
    return s;
}
