/* The JSON lines rampart writes (schema: docs/json.md). Every line carries
 * "rampart_schema" (the version below), "kind" and "run" (one id per command invocation);
 * rows about a model add its path and content hash, rows about a test set its name, split,
 * size and content hash, so that `rampart report` groups rows by what they measured. */
#ifndef RP_TOOLS_JSONL_H
#define RP_TOOLS_JSONL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rampart.h"

#define RP_JSON_SCHEMA 1
#define RP_VERSION "0.1.0"

typedef struct jsonl_run {
    char id[48];      /* "20261206T081034Z-4f2a-1c9e": UTC start, pid, random */
    char started[32]; /* ISO 8601 UTC */
    const char *command;
    int argc;         /* the command's arguments (after its name), borrowed */
    char **argv;
    double t0;        /* monotonic start, for the run line's seconds */
    FILE *out, *copy; /* where jsonl_write puts rows: out (stdout after init; NULL: nowhere) and copy */
} jsonl_run;

/* The test images a row was measured on: the first n of data's split. */
typedef struct jsonl_testset {
    const char *data, *split;
    int n, num_classes;
    char sha256[65];  /* SHA-256 of the n images (float32 NHWC in [0,1]) then their labels (int32 LE) */
    int *class_n;     /* (num_classes) images of each class among the n; owned */
    int32_t *y;       /* (n) their labels; owned */
} jsonl_testset;

void jsonl_run_init(jsonl_run *r, const char *command, int argc, char **argv);

/* A new row {"rampart_schema", "kind", "run"}; the caller adds fields and calls jsonl_emit. */
cJSON *jsonl_row(const jsonl_run *r, const char *kind);

/* Print the row as one line on stdout, flush, and free it. */
void jsonl_emit(cJSON *j);
/* The same into r->out and r->copy (those not NULL). */
void jsonl_write(const jsonl_run *r, cJSON *j);

/* The "run" line, written last when the command succeeded (readers of the first line keep
 * finding the first row): the command's arguments, rampart's version, CPU, threads, seed,
 * start and wall seconds. */
void jsonl_emit_run(const jsonl_run *r, int threads, int seed);

/* SHA-256 of a file's bytes as hex; false (and "" in out) when it cannot be read. */
bool jsonl_file_sha256(const char *path, char out[65]);

/* Fill t for the first n images of ds (hash and class counts); false when out of memory. */
bool jsonl_testset_of(jsonl_testset *t, const rp_dataset *ds, const char *data, const char *split, int n);
void jsonl_testset_free(jsonl_testset *t);

/* "data", "split", "test_n", "test_sha256" (and with classes, "class_n" and "class_names"). */
void jsonl_add_testset(cJSON *j, const jsonl_testset *t, const rp_dataset *ds_for_names);

/* "model" and "model_sha256" (null when the file cannot be read). */
void jsonl_add_model(cJSON *j, const char *path, const char *sha256);

/* "class_correct": of ok[0..n), how many of each class (labels t->y) are 1. */
void jsonl_add_class_correct(cJSON *j, const jsonl_testset *t, const unsigned char *ok);

/* key: base64 (RFC 4648, padded) of the bitmap of ok[0..n): image i is bit (i & 7) of byte
 * i >> 3, so bit 0 of the first byte is image 0. */
void jsonl_add_bitmap(cJSON *j, const char *key, const unsigned char *ok, int n);

#endif
