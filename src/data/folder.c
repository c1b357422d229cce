/* Image-file data sets: the parts every layout shares (spec suffix, directory listing,
 * decoding a list of files in worker threads) and the "folder:DIR" layout itself. */
#define _DEFAULT_SOURCE /* sysconf(_SC_PHYS_PAGES) */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/image.h"

/* image.h; gray sets use the means of these (0.449, 0.226) */
const float RP_IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f}, RP_IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

/* ---- small helpers ------------------------------------------------------------------- */

void rp_free_strings(char **s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

rp_status rp_path_join(rp_ctx *ctx, char *buf, size_t size, const char *a, const char *b)
{
    if (snprintf(buf, size, "%s/%s", a, b) >= (int)size)
        return rp_fail(ctx, RP_ERR_ARG, "path %s/%s is longer than %zu bytes", a, b, size - 1);
    return RP_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

rp_status rp_list_dir(rp_ctx *ctx, const char *dir, bool dirs, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return rp_fail(ctx, RP_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    char **v = NULL, path[4096];
    int count = 0, cap = 0;
    rp_status s = RP_OK;
    for (struct dirent *e; s == RP_OK && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        if (stat(path, &st) != 0 || (dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            char **bigger = realloc(v, (size_t)cap * sizeof *v);
            if (!bigger) {
                s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory listing the directory", dir);
                break;
            }
            v = bigger;
        }
        if (!(v[count] = dup_str(e->d_name))) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", dir);
        else count++;
    }
    closedir(d);
    if (s != RP_OK) {
        rp_free_strings(v, count);
        return s;
    }
    if (count > 1) qsort(v, (size_t)count, sizeof *v, cmp_str); /* byte order, as Python's sorted() */
    *names = v;
    *n = count;
    return RP_OK;
}

rp_status rp_image_list_add(rp_ctx *ctx, rp_image_list *l, const char *path, int32_t label)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 1024;
        char **p = realloc(l->paths, (size_t)cap * sizeof *p);
        if (p) l->paths = p;
        int32_t *q = p ? realloc(l->labels, (size_t)cap * sizeof *q) : NULL;
        if (q) l->labels = q;
        if (!p || !q) return rp_fail(ctx, RP_ERR_NOMEM, "out of memory listing images");
        l->cap = cap;
    }
    if (!(l->paths[l->n] = dup_str(path))) return rp_fail(ctx, RP_ERR_NOMEM, "out of memory listing images");
    l->labels[l->n++] = label;
    return RP_OK;
}

rp_status rp_image_list_interleave(rp_ctx *ctx, rp_image_list *l, int num_classes)
{
    int n = l->n, *seen = calloc((size_t)num_classes, sizeof *seen), *rank = malloc((size_t)n * sizeof *rank);
    char **paths = malloc((size_t)n * sizeof *paths);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    rp_status s = n == 0 || (seen && rank && paths && labels) ? RP_OK
                                                             : rp_fail(ctx, RP_ERR_NOMEM, "out of memory listing images");
    int turns = 0;
    for (int i = 0; s == RP_OK && i < n; i++) {
        rank[i] = seen[l->labels[i]]++;
        turns = rank[i] + 1 > turns ? rank[i] + 1 : turns;
    }
    /* counting sort by (rank, class); within a rank, classes come in list order = class order */
    int *start = s == RP_OK ? calloc((size_t)turns + 1, sizeof *start) : NULL;
    if (s == RP_OK && !start && n > 0) s = rp_fail(ctx, RP_ERR_NOMEM, "out of memory listing images");
    for (int i = 0; s == RP_OK && i < n; i++) start[rank[i] + 1]++;
    for (int t = 0; s == RP_OK && t < turns; t++) start[t + 1] += start[t];
    for (int i = 0; s == RP_OK && i < n; i++) {
        int at = start[rank[i]]++;
        paths[at] = l->paths[i];
        labels[at] = l->labels[i];
    }
    if (s == RP_OK && n > 0) {
        memcpy(l->paths, paths, (size_t)n * sizeof *paths);
        memcpy(l->labels, labels, (size_t)n * sizeof *labels);
    }
    free(start);
    free(seen);
    free(rank);
    free(paths);
    free(labels);
    return s;
}

void rp_image_list_free(rp_image_list *l)
{
    rp_free_strings(l->paths, l->n);
    free(l->labels);
    memset(l, 0, sizeof *l);
}

static bool has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    char ext[8] = "";
    for (int i = 0; i < 7 && dot[i + 1]; i++) ext[i] = (char)tolower((unsigned char)dot[i + 1]);
    if (strlen(dot + 1) > 4) return false;
    return !strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png");
}

rp_status rp_image_list_add_folder(rp_ctx *ctx, rp_image_list *l, const char *dir, int32_t label)
{
    char **files;
    int n, added = 0;
    RP_TRY(rp_list_dir(ctx, dir, false, &files, &n));
    rp_status s = RP_OK;
    char path[4096];
    for (int i = 0; s == RP_OK && i < n; i++) {
        if (!has_image_ext(files[i])) continue;
        s = rp_path_join(ctx, path, sizeof path, dir, files[i]);
        if (s == RP_OK) s = rp_image_list_add(ctx, l, path, label);
        added++;
    }
    rp_free_strings(files, n);
    if (s == RP_OK && added == 0)
        s = rp_fail(ctx, RP_ERR_FORMAT, "%s: class folder holds no images (*.jpg, *.jpeg, *.png)", dir);
    return s;
}

/* ---- spec ----------------------------------------------------------------------------- */

static bool parse_size(const char *t, int *H, int *W)
{
    int h = 0, w = 0, used = 0;
    if (sscanf(t, "%dx%d%n", &h, &w, &used) == 2 && t[used] == '\0') {
    } else if (sscanf(t, "%d%n", &h, &used) == 1 && t[used] == '\0') {
        w = h;
    } else {
        return false;
    }
    for (const char *c = t; *c; c++)
        if (!isdigit((unsigned char)*c) && *c != 'x') return false;
    *H = h;
    *W = w;
    return true;
}

rp_status rp_image_spec_parse(rp_ctx *ctx, const char *spec, const char *arg, char *dir, size_t dir_size, int *H,
                              int *W, int *C)
{
    *H = *W = 0;
    *C = 3;
    if (snprintf(dir, dir_size, "%s", arg) >= (int)dir_size)
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%.64s...' is too long", spec);
    for (int k = 0; k < 2; k++) { /* up to two options, from the right */
        char *comma = strrchr(dir, ',');
        if (!comma) break;
        int h, w;
        if (!strcmp(comma + 1, "gray")) *C = 1;
        else if (parse_size(comma + 1, &h, &w) && *H == 0) *H = h, *W = w;
        else break;
        *comma = '\0';
    }
    if (*H != 0 && (*H < 1 || *W < 1 || *H > 4096 || *W > 4096))
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': size %dx%d is outside 1..4096", spec, *H, *W);
    if (!dir[0]) return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': no directory given", spec);
    if (!is_dir(dir)) return rp_fail(ctx, RP_ERR_IO, "data spec '%s': %s is not a directory", spec, dir);
    return RP_OK;
}

bool rp_image_spec(const char *spec)
{
    return spec && (!strncmp(spec, "folder:", 7) || !strncmp(spec, "tiny-imagenet:", 14));
}

int rp_dataset_skipped(const rp_dataset *ds, const char **note)
{
    if (note) *note = ds ? ds->skip_note : "";
    return ds ? ds->skipped : 0;
}

/* ---- decoding in worker threads ------------------------------------------------------- */

typedef struct decode_job {
    const rp_image_list *l;
    int H, W, C;
    uint8_t *pixels;   /* (n, H, W, C) */
    char **msg;        /* msg[i]: why image i failed (OWNED), NULL when it decoded */
    rp_status *code;   /* code[i] of a failure */
    bool stop_at_bad;  /* without skip_bad the first failure ends the work past it */
    pthread_mutex_t mu;
    int next;          /* next index to claim */
    int first_bad;     /* lowest failed index so far (n when none) */
} decode_job;

enum { DECODE_CHUNK = 16 };

static void decode_one(decode_job *j, int i, rp_ctx *wctx)
{
    rp_image im;
    rp_status s = rp_image_read(wctx, j->l->paths[i], &im);
    if (s == RP_OK) {
        size_t S = (size_t)j->H * j->W * j->C;
        s = rp_image_fit(wctx, &im, j->pixels + (size_t)i * S, j->H, j->W, j->C);
        if (s != RP_OK) { /* the fit's message lacks the file name */
            char why[sizeof wctx->msg];
            snprintf(why, sizeof why, "%s", wctx->msg);
            rp_fail(wctx, s, "%s: %s", j->l->paths[i], why);
        }
        rp_image_free(&im);
    }
    if (s == RP_OK) return;
    j->code[i] = s;
    j->msg[i] = dup_str(wctx->msg[0] ? wctx->msg : "unreadable image");
    pthread_mutex_lock(&j->mu);
    if (i < j->first_bad) j->first_bad = i;
    pthread_mutex_unlock(&j->mu);
}

static void *decode_worker(void *arg)
{
    decode_job *j = arg;
    rp_ctx wctx = {.threads = 1}; /* a context per thread: messages do not mix */
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int lo = j->next, limit = j->stop_at_bad && j->first_bad < j->l->n ? j->first_bad : j->l->n;
        int hi = lo + DECODE_CHUNK < limit ? lo + DECODE_CHUNK : limit;
        j->next = hi > lo ? hi : lo;
        pthread_mutex_unlock(&j->mu);
        if (hi <= lo) break;
        for (int i = lo; i < hi; i++) decode_one(j, i, &wctx);
    }
    return NULL;
}

static rp_status run_workers(rp_ctx *ctx, decode_job *j, int workers)
{
    pthread_t *t = calloc((size_t)workers, sizeof *t);
    if (!t) return rp_fail(ctx, RP_ERR_NOMEM, "out of memory starting decoding threads");
    int started = 0;
    for (; started < workers; started++)
        if (pthread_create(&t[started], NULL, decode_worker, j) != 0) break;
    if (started == 0) decode_worker(j); /* no thread could start: decode here */
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    free(t);
    return RP_OK;
}

static rp_status check_memory(rp_ctx *ctx, const char *what, size_t bytes, int n, int H, int W, int C)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double phys = pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
    if (phys > 0 && (double)bytes > phys / 2)
        return rp_fail(ctx, RP_ERR_NOMEM,
                       "%s: %d images of %dx%dx%d need %.1f GB decoded, more than half of this machine's %.1f GB; "
                       "give a smaller size in the spec (e.g. ,64)",
                       what, n, H, W, C, (double)bytes / 1e9, phys / 1e9);
    return RP_OK;
}

/* Keep the images that decoded, in order; note the first few failures. */
static void drop_bad(decode_job *j, rp_dataset *ds, int n)
{
    size_t S = (size_t)j->H * j->W * j->C, at = 0;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (j->msg[i]) {
            if (ds->skipped++ < 5) {
                at = strlen(ds->skip_note);
                snprintf(ds->skip_note + at, sizeof ds->skip_note - at, "%s%s", at ? "\n" : "", j->msg[i]);
            }
            continue;
        }
        if (kept != i) memmove(ds->pixels + (size_t)kept * S, ds->pixels + (size_t)i * S, S);
        ds->labels[kept++] = j->l->labels[i];
    }
    ds->N = kept;
}

rp_status rp_image_set_decode(rp_ctx *ctx, const rp_image_list *l, int H, int W, int C, const rp_data_options *opt,
                              const char *what, rp_dataset *ds)
{
    int n = l->n, workers = opt && opt->workers > 0 ? opt->workers : rp_ctx_threads(ctx);
    bool skip = opt && opt->skip_bad;
    if (n == 0) return rp_fail(ctx, RP_ERR_FORMAT, "%s: no images", what);
    size_t bytes = (size_t)n * H * W * C;
    RP_TRY(check_memory(ctx, what, bytes, n, H, W, C));
    decode_job j = {.l = l, .H = H, .W = W, .C = C, .stop_at_bad = !skip, .first_bad = n};
    j.pixels = malloc(bytes);
    j.msg = calloc((size_t)n, sizeof *j.msg);
    j.code = calloc((size_t)n, sizeof *j.code);
    ds->labels = malloc((size_t)n * sizeof *ds->labels);
    rp_status s = RP_OK;
    if (!j.pixels || !j.msg || !j.code || !ds->labels)
        s = rp_fail(ctx, RP_ERR_NOMEM, "%s: cannot allocate %.1f MB for %d images", what, (double)bytes / 1e6, n);
    if (s == RP_OK) {
        pthread_mutex_init(&j.mu, NULL);
        s = run_workers(ctx, &j, workers < n ? workers : n);
        pthread_mutex_destroy(&j.mu);
    }
    ds->pixels = j.pixels;
    ds->H = H, ds->W = W, ds->C = C;
    if (s == RP_OK && j.first_bad < n && !skip) s = rp_fail(ctx, j.code[j.first_bad], "%s", j.msg[j.first_bad]);
    if (s == RP_OK) {
        memcpy(ds->labels, l->labels, (size_t)n * sizeof *ds->labels);
        ds->N = n;
        if (j.first_bad < n) drop_bad(&j, ds, n);
        if (ds->N == 0) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: none of the %d images could be read; first: %s", what,
                                    n, j.msg[0]);
    }
    rp_free_strings(j.msg, j.msg ? n : 0);
    free(j.code);
    return s;
}

/* ---- the data set --------------------------------------------------------------------- */

rp_dataset *rp_image_dataset_new(rp_ctx *ctx, const char *name, char **class_names, int K, int C)
{
    rp_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        rp_free_strings(class_names, K);
        rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    snprintf(ds->name, sizeof ds->name, "%s", name);
    ds->class_names = class_names;
    ds->num_classes = K;
    for (int c = 0; c < 4; c++) {
        ds->mean[c] = c >= C ? 0.0f : C == 3 ? RP_IMAGENET_MEAN[c] : 0.449f;
        ds->std[c] = c >= C ? 1.0f : C == 3 ? RP_IMAGENET_STD[c] : 0.226f;
    }
    return ds;
}

/* Index of name in the sorted array v, or -1. */
static int find_sorted(char **v, int n, const char *name)
{
    char **hit = n > 0 ? bsearch(&name, v, (size_t)n, sizeof *v, cmp_str) : NULL;
    return hit ? (int)(hit - v) : -1;
}

/* The images of split directory `dir` whose class folders must be among classes. */
static rp_status list_split(rp_ctx *ctx, const char *dir, char **classes, int K, rp_image_list *l)
{
    char **sub;
    int n;
    RP_TRY(rp_list_dir(ctx, dir, true, &sub, &n));
    rp_status s = n ? RP_OK : rp_fail(ctx, RP_ERR_FORMAT, "%s: no class folders", dir);
    char path[4096];
    for (int i = 0; s == RP_OK && i < n; i++) {
        int k = find_sorted(classes, K, sub[i]);
        s = rp_path_join(ctx, path, sizeof path, dir, sub[i]);
        if (s != RP_OK) break;
        if (k < 0) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: class '%s' is not among the training classes", path, sub[i]);
        else s = rp_image_list_add_folder(ctx, l, path, k);
    }
    rp_free_strings(sub, n);
    return s;
}

static rp_status folder_open(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt,
                             rp_image_list *l, rp_dataset **out)
{
    char dir[4096], root[4200], split[4200];
    int H, W, C;
    RP_TRY(rp_image_spec_parse(ctx, spec, spec + 7, dir, sizeof dir, &H, &W, &C));
    snprintf(root, sizeof root, "%s/train", dir);
    bool layout_split = is_dir(root);
    if (!layout_split) snprintf(root, sizeof root, "%s", dir);
    snprintf(split, sizeof split, "%s", root);
    if (layout_split && !train) {
        snprintf(split, sizeof split, "%s/val", dir);
        if (!is_dir(split)) snprintf(split, sizeof split, "%s/test", dir);
        if (!is_dir(split))
            return rp_fail(ctx, RP_ERR_IO, "%s: has train/ but neither val/ nor test/ for the test split", dir);
    }
    char **classes;
    int K;
    RP_TRY(rp_list_dir(ctx, root, true, &classes, &K));
    rp_status s = K ? RP_OK : rp_fail(ctx, RP_ERR_FORMAT, "%s: no class folders (one sub-folder per class)", root);
    if (s == RP_OK) s = list_split(ctx, split, classes, K, l);
    if (s == RP_OK) s = rp_image_list_interleave(ctx, l, K);
    if (s == RP_OK && H == 0) { /* no size given: the first training image's */
        rp_image_list first = {0};
        s = strcmp(split, root) ? list_split(ctx, root, classes, K, &first) : RP_OK;
        int c0;
        if (s == RP_OK) s = rp_image_probe(ctx, (first.n ? &first : l)->paths[0], &H, &W, &c0);
        rp_image_list_free(&first);
    }
    rp_dataset *ds = s == RP_OK ? rp_image_dataset_new(ctx, "folder", classes, K, C) : NULL;
    if (s != RP_OK) rp_free_strings(classes, K);
    else if (!ds) s = RP_ERR_NOMEM;
    if (s == RP_OK) s = rp_image_set_decode(ctx, l, H, W, C, opt, split, ds);
    if (s != RP_OK) {
        rp_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return RP_OK;
}

rp_status rp_folder_open(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt, rp_dataset **out)
{
    *out = NULL;
    rp_image_list l = {0};
    rp_status s = folder_open(ctx, spec, train, opt, &l, out);
    rp_image_list_free(&l);
    return s;
}

rp_status rp_dataset_open_ex(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt,
                             rp_dataset **out)
{
    if (!out) return rp_fail(ctx, RP_ERR_ARG, "rp_dataset_open_ex: out is NULL");
    if (spec && !strncmp(spec, "folder:", 7)) return rp_folder_open(ctx, spec, train, opt, out);
    if (spec && !strncmp(spec, "tiny-imagenet:", 14)) return rp_tiny_imagenet_open(ctx, spec, train, opt, out);
    return rp_dataset_open(ctx, spec, train, out);
}

rp_status rp_image_load(rp_ctx *ctx, const char *path, int H, int W, int C, float *x)
{
    if (!path || !x) return rp_fail(ctx, RP_ERR_ARG, "rp_image_load: %s is NULL", !path ? "path" : "x");
    if (H < 1 || W < 1) return rp_fail(ctx, RP_ERR_ARG, "rp_image_load: %s: size %dx%d", path, H, W);
    if (C != 1 && C != 3) return rp_fail(ctx, RP_ERR_UNSUPPORTED, "%s: images have 1 or 3 channels, not %d", path, C);
    rp_image im;
    RP_TRY(rp_image_read(ctx, path, &im));
    size_t S = (size_t)H * W * C;
    uint8_t *u = malloc(S);
    rp_status s = u ? rp_image_fit(ctx, &im, u, H, W, C) : rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    for (size_t k = 0; s == RP_OK && k < S; k++) x[k] = (float)u[k] / 255.0f;
    free(u);
    rp_image_free(&im);
    return s;
}

rp_status rp_imagenet_norm(rp_ctx *ctx, float *mean, float *std)
{
    if (!mean || !std) return rp_fail(ctx, RP_ERR_ARG, "rp_imagenet_norm: %s is NULL", !mean ? "mean" : "std");
    for (int c = 0; c < 3; c++) mean[c] = RP_IMAGENET_MEAN[c], std[c] = RP_IMAGENET_STD[c];
    return RP_OK;
}
