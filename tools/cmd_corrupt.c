/* rampart corrupt: corrupted copies of a test set, one per corruption and severity, that any
 * tool reads back:
 *   IDX sets (fashion-mnist, mnist, idx:...)  DIR/NAME/sS/images-idx3-ubyte, labels-idx1-ubyte
 *                                            (read with --data idx:DIR/NAME/sS/images-idx3-ubyte,...)
 *   other sets (folder:, tiny-imagenet:, ...)  DIR/NAME/sS/CLASS/INDEX.png (--data folder:DIR/NAME/sS)
 *                                            with the class names as folders when they sort in class
 *                                            order, else the class numbers; a class with no image among
 *                                            the first --limit gets no folder (folder: then numbers the
 *                                            classes differently: image sets come in class turns, so a
 *                                            limit of at least the class count keeps them all)
 * Image i is corrupted from the stream of (seed, i), as `rampart eval --corruptions` does, and
 * rounded to uint8. Each sS is built under a temporary name and renamed into place, so a
 * set is either whole or absent; an existing sS is replaced. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

typedef struct corrupt_opts {
    const char *data, *corruptions, *severities, *out;
    int limit, seed, threads, batch;
} corrupt_opts;

/* What one set is written as. */
typedef struct writer {
    const rp_dataset *ds;
    int n, H, W, C;
    int32_t *labels;     /* (n) the images' labels */
    bool idx;            /* IDX files, else PNG class folders */
    char (*classes)[64]; /* PNG: folder name of each class */
    uint8_t *pixels;     /* IDX: (n, H, W) */
} writer;

static int fail_errno(const char *what, const char *path)
{
    fprintf(stderr, "rampart corrupt: %s %s: %s\n", what, path, strerror(errno));
    return CLI_EXIT_FAIL;
}

/* Remove path and, when it is a directory, everything under it (links are removed, never
 * followed). */
static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    char sub[8192];
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) rc = -1;
        else rc = remove_tree(sub);
    }
    closedir(d);
    return rc == 0 ? rmdir(path) : rc;
}

static bool put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    return fwrite(b, 1, 4, f) == 4;
}

/* An IDX file of unsigned bytes: magic, dims (big-endian u32), data. */
static int write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndim, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fail_errno("cannot create", path);
    bool ok = put_be32(f, magic);
    for (int i = 0; i < ndim && ok; i++) ok = put_be32(f, dims[i]);
    ok = ok && fwrite(data, 1, n, f) == n;
    if (fclose(f) != 0) ok = false;
    if (!ok) return fail_errno("cannot write", path);
    return CLI_EXIT_OK;
}

/* Class folder names: the class names when they are safe path names in sorted order (as a
 * folder reader sorts them back); else zero-padded class numbers. */
static void class_folders(const rp_dataset *ds, char (*out)[64])
{
    int K = rp_dataset_num_classes(ds);
    bool names = true;
    for (int k = 0; k < K && names; k++) {
        const char *s = rp_dataset_class_name(ds, k);
        names = s && s[0] && s[0] != '.' && strlen(s) < 64 && !strchr(s, '/') &&
                (k == 0 || strcmp(rp_dataset_class_name(ds, k - 1), s) < 0);
    }
    for (int k = 0; k < K; k++) {
        if (names) snprintf(out[k], 64, "%s", rp_dataset_class_name(ds, k));
        else snprintf(out[k], 64, "%0*d", K > 1000 ? 5 : K > 100 ? 4 : 3, k);
    }
}

static uint8_t to_u8(float v)
{
    float c = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return (uint8_t)floorf(c * 255.0f + 0.5f);
}

/* Corrupt the first w->n images of w->ds and write them under dir (which exists, empty). */
static int write_set(rp_ctx *ctx, const corrupt_opts *o, writer *w, const char *c, int sev, const char *dir)
{
    size_t X = (size_t)w->H * w->W * w->C;
    int batch = o->batch;
    float *x = malloc((size_t)batch * X * sizeof *x);
    int32_t *y = malloc((size_t)w->n * sizeof *y), *idx = malloc((size_t)batch * sizeof *idx);
    uint8_t *u = malloc(X);
    int rc = x && y && idx && u ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (rc != CLI_EXIT_OK) fprintf(stderr, "rampart corrupt: out of memory\n");
    char path[8192];
    for (int start = 0; start < w->n && rc == CLI_EXIT_OK; start += batch) {
        int B = w->n - start < batch ? w->n - start : batch;
        for (int i = 0; i < B; i++) idx[i] = start + i;
        rp_dataset_gather(w->ds, idx, B, x, y + start);
        if (rp_corrupt(ctx, c, sev, x, B, w->H, w->W, w->C, (uint64_t)o->seed, (uint64_t)start) != RP_OK) {
            rc = cli_fail("corrupt", ctx);
            break;
        }
        for (int b = 0; b < B && rc == CLI_EXIT_OK; b++) {
            uint8_t *dst = w->idx ? w->pixels + (size_t)(start + b) * X : u;
            for (size_t k = 0; k < X; k++) dst[k] = to_u8(x[(size_t)b * X + k]);
            if (w->idx) continue;
            snprintf(path, sizeof path, "%s/%s/%06d.png", dir, w->classes[y[start + b]], start + b);
            if (rp_image_write_png_u8(ctx, path, u, w->H, w->W, w->C) != RP_OK) rc = cli_fail("corrupt", ctx);
        }
    }
    if (rc == CLI_EXIT_OK && w->idx) {
        uint8_t *labels = malloc((size_t)w->n); /* labels fit a byte: K <= 256 */
        if (!labels) rc = CLI_EXIT_FAIL;
        for (int i = 0; labels && i < w->n; i++) labels[i] = (uint8_t)y[i];
        uint32_t di[3] = {(uint32_t)w->n, (uint32_t)w->H, (uint32_t)w->W}, dl[1] = {(uint32_t)w->n};
        snprintf(path, sizeof path, "%s/images-idx3-ubyte", dir);
        if (rc == CLI_EXIT_OK) rc = write_idx(path, 0x00000803u, di, 3, w->pixels, (size_t)w->n * X);
        snprintf(path, sizeof path, "%s/labels-idx1-ubyte", dir);
        if (rc == CLI_EXIT_OK) rc = write_idx(path, 0x00000801u, dl, 1, labels, (size_t)w->n);
        free(labels);
    }
    free(x), free(y), free(idx), free(u);
    return rc;
}

/* DIR/NAME/sS built as DIR/NAME/.sS.tmp.PID, then renamed into place (an old sS is moved
 * aside first and removed after). */
static int write_one(rp_ctx *ctx, const corrupt_opts *o, writer *w, const char *c, int sev)
{
    char cdir[4400], tmp[4600], final[4600], old[4700], sub[8192];
    snprintf(cdir, sizeof cdir, "%s/%s", o->out, c);
    if (mkdir(cdir, 0777) != 0 && errno != EEXIST) return fail_errno("cannot create", cdir);
    snprintf(tmp, sizeof tmp, "%s/.s%d.tmp.%ld", cdir, sev, (long)getpid());
    snprintf(final, sizeof final, "%s/s%d", cdir, sev);
    snprintf(old, sizeof old, "%s/.s%d.old.%ld", cdir, sev, (long)getpid());
    if (remove_tree(tmp) != 0 || mkdir(tmp, 0777) != 0) return fail_errno("cannot create", tmp);
    int rc = CLI_EXIT_OK;
    for (int i = 0; !w->idx && i < w->n && rc == CLI_EXIT_OK; i++) { /* a folder per class with images */
        snprintf(sub, sizeof sub, "%s/%s", tmp, w->classes[w->labels[i]]);
        if (mkdir(sub, 0777) != 0 && errno != EEXIST) rc = fail_errno("cannot create", sub);
    }
    double t0 = cli_now();
    if (rc == CLI_EXIT_OK) rc = write_set(ctx, o, w, c, sev, tmp);
    bool had_old = rc == CLI_EXIT_OK && rename(final, old) == 0;
    if (rc == CLI_EXIT_OK && rename(tmp, final) != 0) {
        rc = fail_errno("cannot rename into place", final);
        if (had_old) rename(old, final);
    }
    if (rc != CLI_EXIT_OK) remove_tree(tmp);
    else if (had_old) remove_tree(old);
    if (rc == CLI_EXIT_OK)
        printf("%s: %d images (%dx%dx%d, %s) in %.2f s\n", final, w->n, w->H, w->W, w->C, w->idx ? "IDX" : "PNG",
               cli_now() - t0);
    return rc;
}

/* The output directory: made when missing (its parent must exist), and writable. */
static int check_out(const char *out)
{
    struct stat st;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) return fail_errno("cannot create --out", out);
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "rampart corrupt: --out %s is not a directory\n", out);
        return CLI_EXIT_FAIL;
    }
    if (access(out, W_OK | X_OK) != 0) return fail_errno("cannot write to --out", out);
    return CLI_EXIT_OK;
}

static int run(rp_ctx *ctx, const corrupt_opts *o, const bool *which, const bool sev[6])
{
    int rc = check_out(o->out);
    if (rc != CLI_EXIT_OK) return rc;
    rp_dataset *ds = NULL;
    if (rp_dataset_open(ctx, o->data, false, &ds) != RP_OK) return cli_fail("corrupt", ctx);
    writer w = {.ds = ds};
    rp_dataset_shape(ds, &w.H, &w.W, &w.C);
    int total = rp_dataset_size(ds), K = rp_dataset_num_classes(ds);
    w.n = o->limit > 0 && o->limit < total ? o->limit : total;
    w.idx = w.C == 1 && K <= 256 &&
            (!strcmp(o->data, "fashion-mnist") || !strcmp(o->data, "mnist") || !strncmp(o->data, "idx:", 4));
    w.pixels = w.idx ? malloc((size_t)w.n * w.H * w.W) : NULL;
    w.classes = w.idx ? NULL : malloc((size_t)K * sizeof *w.classes);
    w.labels = malloc((size_t)(w.n > 0 ? w.n : 1) * sizeof *w.labels);
    if ((w.idx ? !w.pixels : !w.classes) || !w.labels) {
        fprintf(stderr, "rampart corrupt: out of memory\n");
        rc = CLI_EXIT_FAIL;
    } else if (rp_dataset_labels(ctx, ds, 0, w.n, w.labels) != RP_OK) {
        rc = cli_fail("corrupt", ctx);
    } else if (!w.idx) {
        class_folders(ds, w.classes);
    }
    double t0 = cli_now();
    int sets = 0;
    for (int c = 0; c < rp_corruption_count() && rc == CLI_EXIT_OK; c++) {
        rp_corruption_info info;
        if (!which[c]) continue;
        if (rp_corruption_describe(ctx, c, &info) != RP_OK) {
            rc = cli_fail("corrupt", ctx);
            break;
        }
        if (w.C == 1 && !info.grayscale) {
            fprintf(stderr, "rampart corrupt: %s is not applicable to %d-channel images (the identity): not written\n",
                    info.name, w.C);
            continue;
        }
        for (int s = 1; s <= 5 && rc == CLI_EXIT_OK; s++)
            if (sev[s] && (rc = write_one(ctx, o, &w, info.name, s)) == CLI_EXIT_OK) sets++;
    }
    char dur[32];
    cli_format_duration(dur, sizeof dur, cli_now() - t0);
    if (rc == CLI_EXIT_OK)
        fprintf(stderr, "rampart corrupt: %d sets of %d images of %s in %s (seed %d)\n", sets, w.n, o->data, dur,
                o->seed);
    free(w.pixels);
    free(w.classes);
    free(w.labels);
    rp_dataset_destroy(ds);
    return rc;
}

int cmd_corrupt(int argc, char **argv)
{
    corrupt_opts o = {0};
    cli_flag flags[] = {
        {"--data", CLI_STRING, &o.data, "fashion-mnist", "data set (its test split)"},
        {"--corruptions", CLI_STRING, &o.corruptions, NULL,
         "all, imagenet-c, extra, a family (noise, blur, weather, digital, geometric, occlusion) or names, "
         "comma-separated (required)"},
        {"--severity", CLI_STRING, &o.severities, "1-5", "severities: \"1,3\", \"3\" or \"1-5\""},
        {"--out", CLI_STRING, &o.out, NULL, "output directory (required; made when missing): OUT/NAME/sS/"},
        {"--limit", CLI_INT, &o.limit, "0", "the first N test images (0: all)"},
        {"--seed", CLI_INT, &o.seed, "0", "corruption seed (eval --corruptions with the same seed sees the same images)"},
        {"--batch", CLI_INT, &o.batch, "256", "images corrupted at a time"},
        {"--threads", CLI_INT, &o.threads, "2", "CPU threads"},
    };
    int p = cli_parse("corrupt", "Write corrupted copies of a test set: IDX for IDX sets, PNG class folders otherwise.",
                      flags, (int)(sizeof flags / sizeof flags[0]), argc, argv);
    if (p) return p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (!o.out || !o.out[0] || !o.corruptions) {
        fprintf(stderr, "rampart corrupt: give --out DIR and --corruptions LIST\n");
        return CLI_EXIT_USAGE;
    }
    if (o.limit < 0 || o.batch < 1 || o.batch > 4096 || o.threads < 1) {
        fprintf(stderr, "rampart corrupt: --limit must be >= 0, --batch 1..4096, --threads >= 1\n");
        return CLI_EXIT_USAGE;
    }
    bool *which = malloc((size_t)rp_corruption_count() * sizeof *which), sev[6];
    rp_set_threads(o.threads);
    rp_ctx *ctx = rp_ctx_create(o.threads);
    if (!which || !ctx) {
        fprintf(stderr, "rampart corrupt: out of memory\n");
        free(which), rp_ctx_destroy(ctx);
        return CLI_EXIT_FAIL;
    }
    int rc = CLI_EXIT_OK;
    if (rp_corruption_select(ctx, o.corruptions, which) != RP_OK ||
        rp_corruption_parse_severities(ctx, o.severities, sev) != RP_OK) {
        fprintf(stderr, "rampart corrupt: %s\n", rp_ctx_error(ctx));
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK) rc = run(ctx, &o, which, sev);
    free(which);
    rp_ctx_destroy(ctx);
    return rc;
}
