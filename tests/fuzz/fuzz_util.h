/* Shared by the fuzzing harnesses (tests/fuzz/fuzz_*.c, docs/fuzzing.md): the readers take file
 * names, so each input is written to a file of this process's own first. */
#ifndef RP_FUZZ_UTIL_H
#define RP_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The libFuzzer entry point every harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write data to $TMPDIR/rampart-fuzz-PID-TAG (one file per process and harness, reused for every
 * input) and return its path (a static buffer). Aborts when the file cannot be written: that is
 * the machine's fault, not the reader's, and must not pass as a finding. */
static inline const char *fuzz_file(const char *tag, const uint8_t *data, size_t size)
{
    static char path[512];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/rampart-fuzz-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), tag);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* Write data to a file called `name` inside the directory $TMPDIR/rampart-fuzz-PID-TAG.d (made
 * here) and return the directory (a static buffer), for readers that take a directory. */
static inline const char *fuzz_dir_file(const char *tag, const char *name, const uint8_t *data, size_t size)
{
    static char dir[512];
    char path[1024];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rampart-fuzz-%ld-%s.d", tmp && *tmp ? tmp : "/tmp", (long)getpid(), tag);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mkdir(dir, 0700);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return dir;
}

#endif
