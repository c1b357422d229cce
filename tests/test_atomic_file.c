/* The shared atomic writer (io/atomic_file.h): a committed file has exactly the bytes written
 * and no PATH.tmp beside it; a failed write, a failed open, an abort and a folder in the way
 * each leave the earlier file as it was, no PATH.tmp, and (but for abort) an error naming
 * PATH. The PNG writer goes through it: a PATH.tmp it cannot create keeps the old picture. The
 * public rp_file_write_atomic writes exactly the bytes given, an empty file for none, and
 * refuses NULL arguments. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/png.h"
#include "rampart.h"
#include "testutil.h"

static void in_tmp(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", tu_tmpdir(), name); }

/* path = the test folder's NAME, tmp = its PATH.tmp */
static void paths(const char *name, char (*path)[512], char (*tmp)[600])
{
    in_tmp(*path, sizeof *path, name);
    snprintf(*tmp, sizeof *tmp, "%s.tmp", *path);
}

/* The whole content of path (NUL-terminated; *n its length), or NULL if it cannot be read. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 4096);
    *n = fread(buf, 1, 4095, f);
    fclose(f);
    return buf;
}

static void write_text(rp_ctx *ctx, const char *path, const char *text, rp_status expect)
{
    rp_atomic_file af;
    assert_int_equal(rp_atomic_open(ctx, &af, path), RP_OK);
    assert_int_equal(rp_atomic_commit(ctx, &af, fputs(text, af.fp) >= 0), expect);
    assert_null(af.fp);
    assert_null(af.tmp);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static void test_commit_and_failures(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char path[512], tmp[600];
    paths("atomic.txt", &path, &tmp);
    write_text(ctx, path, "first", RP_OK);
    size_t n = 0;
    char *got = slurp(path, &n);
    assert_non_null(got);
    assert_string_equal(got, "first");
    free(got);
    assert_false(exists(tmp));

    /* a write the caller saw fail: the old file stays, the temporary file goes */
    rp_atomic_file af;
    assert_int_equal(rp_atomic_open(ctx, &af, path), RP_OK);
    assert_true(exists(tmp));
    fputs("half", af.fp);
    errno = ENOSPC;
    assert_int_equal(rp_atomic_commit(ctx, &af, false), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    assert_non_null(strstr(rp_ctx_error(ctx), strerror(ENOSPC)));
    assert_false(exists(tmp));
    got = slurp(path, &n);
    assert_string_equal(got, "first");
    free(got);

    /* an abort: no error of its own, nothing left */
    assert_int_equal(rp_atomic_open(ctx, &af, path), RP_OK);
    fputs("other", af.fp);
    rp_atomic_abort(&af);
    assert_false(exists(tmp));
    got = slurp(path, &n);
    assert_string_equal(got, "first");
    free(got);

    /* PATH.tmp cannot be created (a folder is in the way) */
    assert_int_equal(mkdir(tmp, 0755), 0);
    assert_int_equal(rp_atomic_open(ctx, &af, path), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    assert_null(af.fp);
    assert_null(af.tmp);
    rmdir(tmp);

    /* PATH is a folder; a folder that does not exist */
    char dir[512], missing[600];
    in_tmp(dir, sizeof dir, "atomic-dir");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(rp_atomic_open(ctx, &af, dir), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), "is a directory"));
    snprintf(missing, sizeof missing, "%s/no/such/x.txt", dir);
    assert_int_equal(rp_atomic_open(ctx, &af, missing), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), missing));
    rmdir(dir);

    /* a second commit replaces the content whole */
    write_text(ctx, path, "second, longer", RP_OK);
    got = slurp(path, &n);
    assert_string_equal(got, "second, longer");
    free(got);
    remove(path);
    rp_ctx_destroy(ctx);
}

static void test_png_keeps_old_picture(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char path[512], tmp[600];
    paths("atomic.png", &path, &tmp);
    uint8_t a[6] = {0, 50, 100, 150, 200, 250}, b[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(rp_png_write(ctx, path, a, 2, 3, 1), RP_OK);
    assert_false(exists(tmp));
    assert_int_equal(mkdir(tmp, 0755), 0);
    assert_int_equal(rp_png_write(ctx, path, b, 2, 3, 1), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    rmdir(tmp);
    uint8_t *back = NULL;
    int H = 0, W = 0;
    assert_int_equal(rp_png_read_rgb(ctx, path, &back, &H, &W), RP_OK);
    assert_int_equal(H, 2);
    assert_int_equal(W, 3);
    for (int i = 0; i < 6; i++) assert_int_equal(back[3 * i], a[i]);
    free(back);
    remove(path);
    rp_ctx_destroy(ctx);
}

static void test_public_entry(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char path[512], tmp[600];
    paths("public.bin", &path, &tmp);
    const char bytes[5] = {'a', '\0', 'b', '\n', 'c'};
    assert_int_equal(rp_file_write_atomic(ctx, path, bytes, sizeof bytes), RP_OK);
    size_t n = 0;
    char *got = slurp(path, &n);
    assert_int_equal(n, sizeof bytes);
    assert_memory_equal(got, bytes, sizeof bytes);
    free(got);
    assert_false(exists(tmp));
    assert_int_equal(rp_file_write_atomic(ctx, path, NULL, 0), RP_OK);
    got = slurp(path, &n);
    assert_int_equal(n, 0);
    free(got);
    tu_expect_status(rp_file_write_atomic(ctx, NULL, bytes, 1), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_file_write_atomic(ctx, path, NULL, 1), RP_ERR_ARG, ctx, "data is NULL");
    tu_expect_status(rp_file_write_atomic(ctx, tu_tmpdir(), bytes, 1), RP_ERR_IO, ctx, "is a directory");
    remove(path);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_and_failures),
        cmocka_unit_test(test_png_keeps_old_picture),
        cmocka_unit_test(test_public_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
