/* Data sets by spec: "fashion-mnist", "mnist", "idx:IMAGES,LABELS[,K]", "cifar10:DIR", and the
 * published corrupted test sets "cifar10-c:DIR,NAME[,SEVERITY]",
 * "tiny-imagenet-c:DIR,NAME,SEVERITY". */
#include "data/dataset.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "data/cifar.h"
#include "data/idx.h"
#include "data/image.h"
#include "data/npy.h"

static const char *const FASHION_NAMES[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const DIGIT_NAMES[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
static const char *const CIFAR_NAMES[] = {"airplane", "automobile", "bird", "cat", "deer",
                                          "dog",      "frog",       "horse", "ship", "truck"};

#define SPEC_FORMS                                                                                 \
    "\"fashion-mnist\", \"mnist\", \"idx:IMAGES,LABELS[,NUM_CLASSES]\", \"cifar10:DIR\", "                 \
    "\"folder:DIR[,SIZE][,gray]\", \"tiny-imagenet:DIR[,SIZE]\", \"cifar10-c:DIR,NAME[,SEVERITY]\", "             \
    "\"tiny-imagenet-c:DIR,NAME,SEVERITY\""

void rp_dataset_destroy(rp_dataset *ds)
{
    if (!ds) return;
    if (ds->class_names)
        for (int i = 0; i < ds->num_classes; i++) free(ds->class_names[i]);
    free(ds->class_names);
    free(ds->pixels);
    free(ds->labels);
    free(ds);
}

static rp_status set_names(rp_ctx *ctx, rp_dataset *ds, const char *const *names)
{
    if (!names) return RP_OK;
    ds->class_names = calloc((size_t)ds->num_classes, sizeof(char *));
    if (!ds->class_names) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", ds->name);
    for (int i = 0; i < ds->num_classes; i++) {
        size_t n = strlen(names[i]) + 1;
        ds->class_names[i] = malloc(n);
        if (!ds->class_names[i]) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", ds->name);
        memcpy(ds->class_names[i], names[i], n);
    }
    return RP_OK;
}

static void set_norm(rp_dataset *ds, const float *mean, const float *std)
{
    for (int c = 0; c < 4; c++) {
        ds->mean[c] = c < ds->C ? (mean ? mean[c] : 0.5f) : 0.0f;
        ds->std[c] = c < ds->C ? (std ? std[c] : 0.5f) : 1.0f;
    }
}

static rp_dataset *new_dataset(rp_ctx *ctx, const char *name)
{
    rp_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    snprintf(ds->name, sizeof ds->name, "%s", name);
    return ds;
}

/* Images and labels from two IDX files. K > 0: labels must be below K; K == 0: the
 * number of classes is the largest label + 1 (at least 2). */
static rp_status load_idx_pair(rp_ctx *ctx, const char *images, const char *labels, int K, rp_dataset *ds)
{
    int N, H, W, NL;
    uint8_t *lab = NULL;
    RP_TRY(rp_idx_read_images(ctx, images, &ds->pixels, &N, &H, &W));
    RP_TRY(rp_idx_read_labels(ctx, labels, &lab, &NL));
    rp_status s = RP_OK;
    if (NL != N)
        s = rp_fail(ctx, RP_ERR_SHAPE, "%s holds %d images but %s holds %d labels", images, N, labels, NL);
    int max = 0;
    for (int i = 0; s == RP_OK && i < N; i++) {
        if (K > 0 && lab[i] >= K)
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: label %d of sample %d is not below the %d classes", labels, lab[i],
                        i, K);
        if (lab[i] > max) max = lab[i];
    }
    ds->labels = s == RP_OK ? malloc((size_t)N * sizeof *ds->labels) : NULL;
    if (s == RP_OK && !ds->labels) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", labels);
    if (s == RP_OK) {
        for (int i = 0; i < N; i++) ds->labels[i] = lab[i];
        ds->N = N;
        ds->H = H;
        ds->W = W;
        ds->C = 1;
        ds->num_classes = K > 0 ? K : (max + 1 < 2 ? 2 : max + 1);
    }
    free(lab);
    return s;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* DIR/PREFIX-KIND-ubyte.gz, or the uncompressed name when only that exists. */
static void idx_name(char *buf, size_t size, const char *dir, const char *prefix, const char *kind)
{
    snprintf(buf, size, "%s/%s-%s-ubyte.gz", dir, prefix, kind);
    if (is_file(buf)) return;
    char raw[4096];
    snprintf(raw, sizeof raw, "%s/%s-%s-ubyte", dir, prefix, kind);
    if (is_file(raw)) snprintf(buf, size, "%s", raw);
}

static rp_status open_mnist_like(rp_ctx *ctx, rp_dataset *ds, const char *dir, bool train, bool fashion)
{
    struct stat st;
    if (!fashion && stat(dir, &st) != 0)
        return rp_fail(ctx, RP_ERR_IO,
                       "mnist: %s does not exist (MNIST is not packaged in Debian 12); download the four IDX files "
                       "and use idx:IMAGES,LABELS, or \"fashion-mnist\"",
                       dir);
    char images[4096], labels[4096];
    const char *prefix = train ? "train" : "t10k";
    idx_name(images, sizeof images, dir, prefix, "images-idx3");
    idx_name(labels, sizeof labels, dir, prefix, "labels-idx1");
    if (fashion && !is_file(images))
        return rp_fail(ctx, RP_ERR_IO,
                       "fashion-mnist: %s not found (install Debian's dataset-fashion-mnist, or set RAMPART_DATA_DIR "
                       "to a directory holding the IDX files)",
                       images);
    RP_TRY(load_idx_pair(ctx, images, labels, 10, ds));
    const float fm = 0.2860f, fs = 0.3530f, mm = 0.1307f, ms = 0.3081f;
    set_norm(ds, fashion ? &fm : &mm, fashion ? &fs : &ms);
    return set_names(ctx, ds, fashion ? FASHION_NAMES : DIGIT_NAMES);
}

/* "IMAGES,LABELS" or "IMAGES,LABELS,K". */
static rp_status open_idx_spec(rp_ctx *ctx, rp_dataset *ds, const char *spec, const char *arg)
{
    char buf[8192];
    if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%.64s...' is too long", spec);
    char *comma = strchr(buf, ',');
    if (!comma || comma == buf || !comma[1])
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': expected idx:IMAGES,LABELS[,NUM_CLASSES]", spec);
    *comma = '\0';
    char *labels = comma + 1, *last = strrchr(labels, ',');
    int K = 0;
    if (last) {
        char *end;
        errno = 0;
        long k = strtol(last + 1, &end, 10);
        if (last[1] == '\0' || *end != '\0' || errno || k < 2 || k > 65536)
            return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': NUM_CLASSES '%s' is not an integer in [2, 65536]", spec,
                           last + 1);
        *last = '\0';
        K = (int)k;
    }
    RP_TRY(load_idx_pair(ctx, buf, labels, K, ds));
    set_norm(ds, NULL, NULL);
    return RP_OK;
}

static rp_status open_cifar(rp_ctx *ctx, rp_dataset *ds, const char *dir, bool train)
{
    char paths[5][4096];
    const char *files[5];
    int n = train ? 5 : 1;
    for (int i = 0; i < n; i++) {
        if (train) snprintf(paths[i], sizeof paths[i], "%s/data_batch_%d.bin", dir, i + 1);
        else snprintf(paths[i], sizeof paths[i], "%s/test_batch.bin", dir);
        files[i] = paths[i];
    }
    uint8_t *lab = NULL;
    RP_TRY(rp_cifar_read(ctx, files, n, &ds->pixels, &lab, &ds->N));
    ds->labels = malloc((size_t)ds->N * sizeof *ds->labels);
    if (!ds->labels) {
        free(lab);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", dir);
    }
    for (int i = 0; i < ds->N; i++) ds->labels[i] = lab[i];
    free(lab);
    ds->H = ds->W = RP_CIFAR_SIDE;
    ds->C = 3;
    ds->num_classes = RP_CIFAR_CLASSES;
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    set_norm(ds, mean, std);
    char **names = NULL;
    RP_TRY(rp_cifar_read_names(ctx, dir, &names));
    if (!names) return set_names(ctx, ds, CIFAR_NAMES);
    ds->class_names = names; /* ownership moves to ds */
    return RP_OK;
}

/* ---- corrupted test sets ------------------------------------------------------------- */

/* "DIR,NAME[,SEVERITY]" into dir, name and *severity (0 when absent); need_severity: required. */
static rp_status corrupted_spec(rp_ctx *ctx, const char *spec, const char *arg, bool need_severity, char *dir,
                                size_t dir_size, char *name, size_t name_size, int *severity)
{
    const char *form = need_severity ? "tiny-imagenet-c:DIR,NAME,SEVERITY" : "cifar10-c:DIR,NAME[,SEVERITY]";
    char buf[8192];
    if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%.64s...' is too long", spec);
    char *c1 = strchr(buf, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    if (!c1 || c1 == buf || !c1[1] || c2 == c1 + 1 || (need_severity && !c2) || (c2 && strchr(c2 + 1, ',')))
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': expected %s", spec, form);
    *c1 = '\0';
    if (c2) *c2 = '\0';
    *severity = 0;
    if (c2) {
        char *end;
        long v = strtol(c2 + 1, &end, 10);
        if (end == c2 + 1 || *end || v < 1 || v > 5)
            return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': SEVERITY '%s' is not one of 1..5", spec, c2 + 1);
        *severity = (int)v;
    }
    if (strchr(c1 + 1, '/') || !strcmp(c1 + 1, "..") || !strcmp(c1 + 1, "."))
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': NAME '%s' is a corruption's name, not a path", spec, c1 + 1);
    if (snprintf(dir, dir_size, "%s", buf) >= (int)dir_size || snprintf(name, name_size, "%s", c1 + 1) >= (int)name_size)
        return rp_fail(ctx, RP_ERR_ARG, "data spec '%.64s...' is too long", spec);
    return RP_OK;
}

/* CIFAR-10-C: DIR/NAME.npy uint8 (5 n, 32, 32, 3), DIR/labels.npy (5 n,); severity s is rows
 * (s - 1) n .. s n - 1 of both, no severity all five. */
static rp_status open_cifar10_c(rp_ctx *ctx, rp_dataset *ds, const char *spec)
{
    char dir[4096], name[256], images[4400], labels[4400];
    int sev;
    RP_TRY(corrupted_spec(ctx, spec, spec + 10, false, dir, sizeof dir, name, sizeof name, &sev));
    snprintf(images, sizeof images, "%s/%s.npy", dir, name);
    snprintf(labels, sizeof labels, "%s/labels.npy", dir);
    rp_npy_info in;
    RP_TRY(rp_npy_info_read(ctx, images, &in));
    size_t N = in.ndim >= 1 ? in.shape[0] : 0;
    if (N == 0 || N % 5)
        return rp_fail(ctx, RP_ERR_SHAPE, "%s: %zu images; CIFAR-10-C files hold 5 severities of the same number of "
                                          "images",
                       images, N);
    int rows = (int)(N / 5), first = sev ? (sev - 1) * rows : 0, count = sev ? rows : (int)N, NL, H, W;
    RP_TRY(rp_npy_read_images(ctx, images, first, count, &ds->pixels, &ds->N, &H, &W, &ds->C));
    rp_npy_info li;
    RP_TRY(rp_npy_info_read(ctx, labels, &li));
    if (li.ndim != 1 || li.shape[0] != N)
        return rp_fail(ctx, RP_ERR_SHAPE, "%s holds %zu images but %s holds %zu labels", images, N, labels,
                       li.ndim >= 1 ? li.shape[0] : 0);
    RP_TRY(rp_npy_read_labels(ctx, labels, first, count, &ds->labels, &NL));
    for (int i = 0; i < ds->N; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= RP_CIFAR_CLASSES)
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: label %d of row %d is not one of CIFAR-10's %d classes", labels,
                           (int)ds->labels[i], first + i, RP_CIFAR_CLASSES);
    ds->H = H;
    ds->W = W;
    ds->num_classes = RP_CIFAR_CLASSES;
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    set_norm(ds, ds->C == 3 ? mean : NULL, ds->C == 3 ? std : NULL);
    return set_names(ctx, ds, CIFAR_NAMES);
}

/* Tiny-ImageNet-C: DIR/NAME/SEVERITY/<wnid>/<file>.JPEG, 64x64 RGB. The classes are the sorted
 * wnid folders, which is Tiny ImageNet's label order (its sorted wnids) when all 200 are there. */
static rp_status list_tiny_c(rp_ctx *ctx, const char *root, rp_image_list *l, char ***classes, int *K)
{
    RP_TRY(rp_list_dir(ctx, root, true, classes, K));
    if (*K < 2) return rp_fail(ctx, RP_ERR_FORMAT, "%s: %d class folders; a data set needs at least 2", root, *K);
    char sub[8400];
    for (int k = 0; k < *K; k++) {
        RP_TRY(rp_path_join(ctx, sub, sizeof sub, root, (*classes)[k]));
        RP_TRY(rp_image_list_add_folder(ctx, l, sub, k));
    }
    return rp_image_list_interleave(ctx, l, *K);
}

static rp_status open_tiny_imagenet_c(rp_ctx *ctx, const char *spec, rp_dataset **out)
{
    char dir[4096], name[256], root[4600];
    int sev;
    RP_TRY(corrupted_spec(ctx, spec, spec + 16, true, dir, sizeof dir, name, sizeof name, &sev));
    snprintf(root, sizeof root, "%s/%s/%d", dir, name, sev);
    rp_image_list l = {0};
    char **classes = NULL;
    int K = 0;
    rp_status s = list_tiny_c(ctx, root, &l, &classes, &K);
    rp_dataset *ds = NULL;
    if (s == RP_OK && !(ds = rp_image_dataset_new(ctx, "tiny-imagenet-c", classes, K, 3))) s = RP_ERR_NOMEM;
    else if (s != RP_OK) rp_free_strings(classes, K);
    if (s == RP_OK) s = rp_image_set_decode(ctx, &l, 64, 64, 3, NULL, root, ds);
    rp_image_list_free(&l);
    if (s != RP_OK) {
        rp_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return RP_OK;
}

rp_status rp_dataset_open(rp_ctx *ctx, const char *spec, bool train, rp_dataset **out)
{
    if (!out) return rp_fail(ctx, RP_ERR_ARG, "rp_dataset_open: out is NULL");
    *out = NULL;
    if (!spec) return rp_fail(ctx, RP_ERR_ARG, "no data spec given; valid forms: " SPEC_FORMS);
    rp_dataset *ds;
    rp_status s;
    if (strcmp(spec, "fashion-mnist") == 0) {
        const char *dir = getenv("RAMPART_DATA_DIR");
        if (!(ds = new_dataset(ctx, "fashion-mnist"))) return RP_ERR_NOMEM;
        s = open_mnist_like(ctx, ds, dir && dir[0] ? dir : RP_FASHION_MNIST_DIR, train, true);
    } else if (strcmp(spec, "mnist") == 0) {
        if (!(ds = new_dataset(ctx, "mnist"))) return RP_ERR_NOMEM;
        s = open_mnist_like(ctx, ds, RP_MNIST_DIR, train, false);
    } else if (strncmp(spec, "idx:", 4) == 0) {
        if (!(ds = new_dataset(ctx, "idx"))) return RP_ERR_NOMEM;
        s = open_idx_spec(ctx, ds, spec, spec + 4);
    } else if (strncmp(spec, "cifar10:", 8) == 0 && spec[8]) {
        if (!(ds = new_dataset(ctx, "cifar10"))) return RP_ERR_NOMEM;
        s = open_cifar(ctx, ds, spec + 8, train);
    } else if (!strncmp(spec, "cifar10-c:", 10) || !strncmp(spec, "tiny-imagenet-c:", 16)) {
        if (train)
            return rp_fail(ctx, RP_ERR_ARG, "data spec '%s': a corrupted set is a test set and has no training split",
                           spec);
        if (spec[0] == 't') return open_tiny_imagenet_c(ctx, spec, out);
        if (!(ds = new_dataset(ctx, "cifar10-c"))) return RP_ERR_NOMEM;
        s = open_cifar10_c(ctx, ds, spec);
    } else if (rp_image_spec(spec)) { /* image files: data/image.h */
        return rp_dataset_open_ex(ctx, spec, train, NULL, out);
    } else {
        return rp_fail(ctx, RP_ERR_ARG, "unknown data spec '%s'; valid forms: " SPEC_FORMS, spec);
    }
    if (s != RP_OK) {
        rp_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return RP_OK;
}

rp_status rp_dataset_from_memory(rp_ctx *ctx, const uint8_t *pixels, const int32_t *labels, int N, int H, int W,
                                 int C, int num_classes, const char *const *class_names, rp_dataset **out)
{
    *out = NULL;
    if (N < 1 || H < 1 || W < 1 || C < 1 || C > 4 || num_classes < 2)
        return rp_fail(ctx, RP_ERR_ARG, "memory data set: bad size N=%d %dx%dx%d with %d classes", N, H, W, C,
                       num_classes);
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= num_classes)
            return rp_fail(ctx, RP_ERR_ARG, "memory data set: label %d of sample %d is outside [0, %d)",
                           (int)labels[i], i, num_classes);
    rp_dataset *ds = new_dataset(ctx, "memory");
    if (!ds) return RP_ERR_NOMEM;
    size_t bytes = (size_t)N * H * W * C;
    ds->pixels = malloc(bytes);
    ds->labels = malloc((size_t)N * sizeof *ds->labels);
    ds->N = N, ds->H = H, ds->W = W, ds->C = C, ds->num_classes = num_classes;
    rp_status s = ds->pixels && ds->labels ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "memory data set: out of memory");
    if (s == RP_OK) {
        memcpy(ds->pixels, pixels, bytes);
        memcpy(ds->labels, labels, (size_t)N * sizeof *labels);
        set_norm(ds, NULL, NULL);
        s = set_names(ctx, ds, class_names);
    }
    if (s != RP_OK) {
        rp_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return RP_OK;
}

int rp_dataset_size(const rp_dataset *ds) { return ds->N; }

void rp_dataset_shape(const rp_dataset *ds, int *H, int *W, int *C)
{
    *H = ds->H;
    *W = ds->W;
    *C = ds->C;
}

int rp_dataset_num_classes(const rp_dataset *ds) { return ds->num_classes; }

const char *rp_dataset_class_name(const rp_dataset *ds, int i)
{
    if (!ds->class_names || i < 0 || i >= ds->num_classes) return NULL;
    return ds->class_names[i];
}

void rp_dataset_truncate(rp_dataset *ds, int n)
{
    RP_ASSERT(n >= 0 && n <= ds->N);
    ds->N = n;
}

void rp_dataset_gather(const rp_dataset *ds, const int *idx, int B, float *x, int32_t *y)
{
    const size_t S = (size_t)ds->H * ds->W * ds->C;
    for (int b = 0; b < B; b++) {
        RP_ASSERT(idx[b] >= 0 && idx[b] < ds->N);
        const uint8_t *src = ds->pixels + (size_t)idx[b] * S;
        float *dst = x + (size_t)b * S;
        for (size_t k = 0; k < S; k++) dst[k] = (float)src[k] / 255.0f; /* as torchvision ToTensor */
        if (y) y[b] = ds->labels[idx[b]];
    }
}

rp_status rp_dataset_labels(rp_ctx *ctx, const rp_dataset *ds, int first, int n, int32_t *y)
{
    if (!ds || !y) return rp_fail(ctx, RP_ERR_ARG, "rp_dataset_labels: %s is NULL", !ds ? "the data set" : "y");
    if (first < 0 || n < 0 || first > ds->N - n)
        return rp_fail(ctx, RP_ERR_ARG, "rp_dataset_labels: samples %d..%d outside the %d of %s", first,
                       first + n - 1, ds->N, ds->name);
    memcpy(y, ds->labels + first, (size_t)n * sizeof *y);
    return RP_OK;
}

void rp_dataset_norm(const rp_dataset *ds, float *mean, float *std)
{
    for (int c = 0; c < ds->C; c++) {
        mean[c] = ds->mean[c];
        std[c] = ds->std[c];
    }
}

void rp_shuffle_indices(int *idx, int n, rp_rng *rng)
{
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rp_rng_below(rng, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
