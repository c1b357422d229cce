/* Fuzz the CIFAR-10 binary reader (src/data/cifar.c): the bytes as a batch file and as the
 * class-name file batches.meta.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/cifar.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rp_ctx *ctx = rp_ctx_create(1);
    const char *path = fuzz_file("cifar", data, size);
    uint8_t *pix = NULL, *lab = NULL;
    int N = 0;
    const char *files[1] = {path};
    if (rp_cifar_read(ctx, files, 1, &pix, &lab, &N) == RP_OK && N > 0)
        pix[(size_t)N * (RP_CIFAR_RECORD - 1) - 1] ^= lab[N - 1]; /* touch the last byte of each */
    free(pix);
    free(lab);
    remove(path);
    const char *dir = fuzz_dir_file("cifar", "batches.meta.txt", data, size);
    char **names = NULL;
    if (rp_cifar_read_names(ctx, dir, &names) == RP_OK && names) {
        for (int i = 0; i < RP_CIFAR_CLASSES; i++) free(names[i]);
        free(names);
    }
    char meta[1100];
    snprintf(meta, sizeof meta, "%s/batches.meta.txt", dir);
    remove(meta);
    rmdir(dir);
    rp_ctx_destroy(ctx);
    return 0;
}
