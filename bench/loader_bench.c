/* Loader throughput (built and run by bench/loader): images/s of
 *   1. decoding:  opening tiny-imagenet:DIR (JPEG decode + fit) with W worker threads;
 *   2. batching:  the loader's gather + augment + batch, consumed as fast as it comes,
 *                 with W workers and with none (the caller's thread) for reference.
 * Prints one JSON line per measurement. Usage: loader_bench DIR WORKERS BATCH AUGMENT EPOCHS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"

static double batching(rp_ctx *ctx, const rp_dataset *ds, int workers, int batch, const char *aug, int epochs,
                       double *waited)
{
    rp_loader_config c = {.batch = batch, .workers = workers, .seed = 1, .shuffle = true, .first_epoch = 1,
                          .epochs = epochs, .augment = aug, .augment_prob = 0.5f};
    rp_loader *l = NULL;
    if (rp_loader_create(ctx, ds, &c, &l) != RP_OK) {
        fprintf(stderr, "loader_bench: %s\n", rp_ctx_error(ctx));
        exit(1);
    }
    rp_batch b;
    double t0 = bench_now(), sum = 0;
    long images = 0;
    while (rp_loader_next(l, &b)) {
        sum += b.x[0]; /* touch the batch */
        images += b.B;
    }
    double secs = bench_now() - t0;
    *waited = rp_loader_wait_seconds(l);
    rp_loader_destroy(l);
    return sum >= 0 ? (double)images / secs : 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: loader_bench DIR WORKERS BATCH AUGMENT EPOCHS\n");
        return 2;
    }
    int workers = atoi(argv[2]), batch = atoi(argv[3]), epochs = atoi(argv[5]);
    const char *aug = strcmp(argv[4], "none") ? argv[4] : NULL;
    rp_ctx *ctx = rp_ctx_create(workers > 0 ? workers : 1);
    char spec[4200];
    snprintf(spec, sizeof spec, "tiny-imagenet:%s", argv[1]);
    rp_data_options o = {.workers = workers > 0 ? workers : 1};
    rp_dataset *ds = NULL;
    double t0 = bench_now();
    if (rp_dataset_open_ex(ctx, spec, true, &o, &ds) != RP_OK) {
        fprintf(stderr, "loader_bench: %s\n", rp_ctx_error(ctx));
        return 1;
    }
    double secs = bench_now() - t0;
    printf("{\"stage\":\"decode\",\"workers\":%d,\"images\":%d,\"size\":\"%dx%dx%d\",\"seconds\":%.3f,"
           "\"images_per_s\":%.0f}\n",
           o.workers, ds->N, ds->H, ds->W, ds->C, secs, ds->N / secs);
    const int ws[2] = {workers, 0};
    for (int i = 0; i < 2; i++) {
        double waited, ips = batching(ctx, ds, ws[i], batch, aug, epochs, &waited);
        printf("{\"stage\":\"batch\",\"workers\":%d,\"batch\":%d,\"augment\":\"%s\",\"images_per_s\":%.0f,"
               "\"consumer_wait_s\":%.3f}\n",
               ws[i], batch, aug ? aug : "none", ips, waited);
    }
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
    return 0;
}
