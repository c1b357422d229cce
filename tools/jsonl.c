/* The JSON lines rampart writes (see jsonl.h and docs/json.md). */
#include "jsonl.h"

#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rampart.h"
#include "sha256.h"

void jsonl_run_init(jsonl_run *r, const char *command, int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(r->started, sizeof r->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char stamp[24];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    unsigned salt = (unsigned)(ts.tv_nsec ^ (long)getpid() * 2654435761L) & 0xffffu;
    snprintf(r->id, sizeof r->id, "%s-%x-%04x", stamp, (unsigned)getpid(), salt);
    r->command = command;
    r->argc = argc;
    r->argv = argv;
    r->t0 = cli_now();
    r->out = stdout;
    r->copy = NULL;
}

cJSON *jsonl_row(const jsonl_run *r, const char *kind)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "rampart_schema", RP_JSON_SCHEMA);
    cJSON_AddStringToObject(j, "kind", kind);
    cJSON_AddStringToObject(j, "run", r->id);
    return j;
}

void jsonl_emit(cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s) printf("%s\n", s);
    fflush(stdout);
    free(s);
    cJSON_Delete(j);
}

void jsonl_write(const jsonl_run *r, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    FILE *to[2] = {r->out, r->copy};
    for (int i = 0; i < 2 && s; i++)
        if (to[i]) fprintf(to[i], "%s\n", s), fflush(to[i]);
    free(s);
    cJSON_Delete(j);
}

void jsonl_emit_run(const jsonl_run *r, int threads, int seed)
{
    cJSON *j = jsonl_row(r, "run");
    cJSON_AddStringToObject(j, "command", r->command);
    cJSON *a = cJSON_AddArrayToObject(j, "args");
    for (int i = 0; i < r->argc; i++) cJSON_AddItemToArray(a, cJSON_CreateString(r->argv[i]));
    cJSON_AddStringToObject(j, "version", RP_VERSION);
    char cpu[160];
    cli_cpu_name(cpu, sizeof cpu);
    cJSON_AddStringToObject(j, "cpu", cpu);
    cJSON_AddStringToObject(j, "simd", rp_simd_info());
    cJSON_AddStringToObject(j, "kernels", rp_kernel_info());
    cJSON_AddStringToObject(j, "precision", rp_precision_name(rp_get_precision()));
    cJSON_AddNumberToObject(j, "threads", threads);
    cJSON_AddNumberToObject(j, "seed", seed);
    cJSON_AddStringToObject(j, "started", r->started);
    cJSON_AddNumberToObject(j, "seconds", cli_now() - r->t0);
    jsonl_write(r, j);
}

bool jsonl_file_sha256(const char *path, char out[65])
{
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    cli_sha256 s;
    cli_sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) cli_sha256_update(&s, buf, k);
    bool ok = !ferror(f);
    fclose(f);
    if (ok) cli_sha256_hex(&s, out);
    return ok;
}

/* Little-endian bytes of the labels, whatever the host's order. */
static void hash_labels(cli_sha256 *s, const int32_t *y, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)y[i];
        unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                              (unsigned char)(v >> 24)};
        cli_sha256_update(s, b, 4);
    }
}

bool jsonl_testset_of(jsonl_testset *t, const rp_dataset *ds, const char *data, const char *split, int n)
{
    int H, W, C;
    rp_dataset_shape(ds, &H, &W, &C);
    *t = (jsonl_testset){.data = data, .split = split, .n = n, .num_classes = rp_dataset_num_classes(ds)};
    enum { B = 256 };
    size_t X = (size_t)H * W * C;
    float *x = malloc(B * X * sizeof *x);
    int32_t *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    int idx[B];
    t->class_n = calloc((size_t)t->num_classes, sizeof *t->class_n);
    if (!x || !y || !t->class_n) {
        free(x), free(y);
        jsonl_testset_free(t);
        return false;
    }
    cli_sha256 s;
    cli_sha256_init(&s);
    for (int start = 0; start < n; start += B) {
        int b = n - start < B ? n - start : B;
        for (int i = 0; i < b; i++) idx[i] = start + i;
        rp_dataset_gather(ds, idx, b, x, y + start);
        cli_sha256_update(&s, x, (size_t)b * X * sizeof *x);
    }
    hash_labels(&s, y, n);
    cli_sha256_hex(&s, t->sha256);
    for (int i = 0; i < n; i++)
        if (y[i] >= 0 && y[i] < t->num_classes) t->class_n[y[i]]++;
    free(x);
    t->y = y;
    return true;
}

void jsonl_testset_free(jsonl_testset *t)
{
    free(t->class_n);
    free(t->y);
    t->class_n = NULL;
    t->y = NULL;
}

void jsonl_add_testset(cJSON *j, const jsonl_testset *t, const rp_dataset *ds_for_names)
{
    cJSON_AddStringToObject(j, "data", t->data);
    cJSON_AddStringToObject(j, "split", t->split);
    cJSON_AddNumberToObject(j, "test_n", t->n);
    cJSON_AddStringToObject(j, "test_sha256", t->sha256);
    if (!ds_for_names || !t->class_n) return;
    cJSON *cn = cJSON_AddArrayToObject(j, "class_n");
    cJSON *names = cJSON_AddArrayToObject(j, "class_names");
    for (int k = 0; k < t->num_classes; k++) {
        cJSON_AddItemToArray(cn, cJSON_CreateNumber(t->class_n[k]));
        const char *name = rp_dataset_class_name(ds_for_names, k);
        char fallback[16];
        snprintf(fallback, sizeof fallback, "%d", k);
        cJSON_AddItemToArray(names, cJSON_CreateString(name ? name : fallback));
    }
}

void jsonl_add_model(cJSON *j, const char *path, const char *sha256)
{
    cJSON_AddStringToObject(j, "model", path);
    if (sha256 && sha256[0]) cJSON_AddStringToObject(j, "model_sha256", sha256);
    else cJSON_AddNullToObject(j, "model_sha256");
}

void jsonl_add_bitmap(cJSON *j, const char *key, const unsigned char *ok, int n)
{
    size_t bytes = ((size_t)n + 7) / 8;
    unsigned char *bits = calloc(bytes ? bytes : 1, 1);
    char *b64 = NULL;
    if (bits) {
        for (int i = 0; i < n; i++)
            if (ok[i]) bits[i >> 3] |= (unsigned char)(1u << (i & 7));
        b64 = rp_base64_encode(bits, bytes);
    }
    if (b64) cJSON_AddStringToObject(j, key, b64);
    else cJSON_AddNullToObject(j, key);
    free(bits), free(b64);
}

void jsonl_add_class_correct(cJSON *j, const jsonl_testset *t, const unsigned char *ok)
{
    int *k = calloc((size_t)t->num_classes, sizeof *k);
    if (!k || !t->y) {
        free(k);
        return;
    }
    for (int i = 0; i < t->n; i++)
        if (ok[i] && t->y[i] >= 0 && t->y[i] < t->num_classes) k[t->y[i]]++;
    cJSON *a = cJSON_AddArrayToObject(j, "class_correct");
    for (int c = 0; c < t->num_classes; c++) cJSON_AddItemToArray(a, cJSON_CreateNumber(k[c]));
    free(k);
}
