/* A main for the fuzzing harnesses without libFuzzer (any compiler): every file named on the
 * command line, or every file in a directory named there, is passed to LLVMFuzzerTestOneInput
 * once. ctest runs each harness so on its committed corpus (tests/fuzz/corpus/NAME/: the seeds
 * and every input that once crashed a reader), so a reader that regresses fails the suite. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return 1;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, errors = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            perror(argv[a]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            errors += run_file(argv[a]), files++;
            continue;
        }
        struct dirent **list = NULL;
        int n = scandir(argv[a], &list, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], list[i]->d_name);
            if (list[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) errors += run_file(path), files++;
            free(list[i]);
        }
        free(list);
    }
    printf("%s: %d inputs replayed\n", argv[0], files);
    return errors || files == 0;
}
