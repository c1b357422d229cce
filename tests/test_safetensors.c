/* safetensors: round trip, every kind of malformed file (status AND a message naming
 * the file), dtype conversion, and the atomic writer keeping an old file on failure. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"

static char *path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tu_tmpdir(), name);
    return buf;
}

/* A file from a literal header (unpadded) and n_data bytes of data (0x11 filled). */
static void write_raw(const char *path, const char *header, size_t n_data)
{
    size_t h = strlen(header);
    size_t total = 8 + h + n_data;
    unsigned char *b = calloc(total, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, 0x11, n_data);
    tu_write_file(path, b, total);
    free(b);
}

/* Open must fail with `want`, and the message must name the file and contain `what`. */
static void expect_open_error(const char *path, rp_status want, const char *what)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = (rp_st_file *)0x1;
    rp_status s = rp_st_open(ctx, path, &f);
    const char *msg = rp_ctx_error(ctx);
    if (s != want) fail_msg("%s: status %s, expected %s (%s)", path, rp_status_name(s), rp_status_name(want), msg);
    assert_null(f);
    if (!strstr(msg, path)) fail_msg("message does not name the file: %s", msg);
    if (!strstr(msg, what)) fail_msg("message lacks '%s': %s", what, msg);
    rp_ctx_destroy(ctx);
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "rt.safetensors");
    float w[6] = {1.5f, -2.25f, 3e-8f, 1e30f, -0.0f, 7.0f};
    float b[3] = {0.125f, 0.25f, -1.0f};
    float steps[1] = {12345.0f};
    rp_st_entry t[] = {
        {.name = "fc.weight", .dtype = RP_ST_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "fc.bias", .dtype = RP_ST_F32, .ndim = 1, .shape = {3}, .data = b},
        {.name = "bn.num_batches_tracked", .dtype = RP_ST_I64, .ndim = 0, .data = steps},
        {.name = "empty", .dtype = RP_ST_F32, .ndim = 1, .shape = {0}, .data = NULL},
    };
    const char *mk[] = {"format", "arch"}, *mv[] = {"rampart-1", "mlp"};
    rp_ctx *ctx = rp_ctx_create(1);
    assert_int_equal(rp_st_write(ctx, path, t, 4, mk, mv, 2), RP_OK);

    /* header length is a multiple of 8 and the file holds exactly header + data */
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8];
    assert_int_equal(fread(len8, 1, 8, fp), 8);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    assert_int_equal(hlen % 8, 0);
    assert_int_equal((uint64_t)size, 8 + hlen + 6 * 4 + 3 * 4 + 8);

    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, path, &f), RP_OK);
    assert_int_equal(rp_st_count(f), 4);
    assert_string_equal(rp_st_meta(f, "format"), "rampart-1");
    assert_string_equal(rp_st_meta(f, "arch"), "mlp");
    assert_null(rp_st_meta(f, "nope"));
    assert_string_equal(rp_st_path(f), path);
    const rp_st_tensor *tw = rp_st_find(f, "fc.weight");
    assert_non_null(tw);
    assert_int_equal(tw->dtype, RP_ST_F32);
    assert_int_equal(tw->ndim, 2);
    assert_int_equal(tw->shape[0], 2);
    assert_int_equal(tw->shape[1], 3);
    const rp_st_tensor *ts = rp_st_find(f, "bn.num_batches_tracked");
    assert_int_equal(ts->dtype, RP_ST_I64);
    assert_int_equal(ts->ndim, 0);
    assert_int_equal(ts->numel, 1);
    assert_int_equal(rp_st_find(f, "empty")->numel, 0);
    /* order in the data is the order given */
    assert_true(rp_st_find(f, "fc.weight")->data < rp_st_find(f, "fc.bias")->data);

    float got[6];
    assert_int_equal(rp_st_read_f32(ctx, f, "fc.weight", got, 6), RP_OK);
    assert_memory_equal(got, w, sizeof w); /* bit-exact, -0.0 included */
    assert_int_equal(rp_st_read_f32(ctx, f, "fc.bias", got, 3), RP_OK);
    assert_memory_equal(got, b, sizeof b);
    assert_int_equal(rp_st_read_f32(ctx, f, "bn.num_batches_tracked", got, 1), RP_OK);
    assert_true(got[0] == 12345.0f);

    /* wrong element count and a missing tensor name the file and tensor */
    assert_int_equal(rp_st_read_f32(ctx, f, "fc.bias", got, 2), RP_ERR_SHAPE);
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    assert_non_null(strstr(rp_ctx_error(ctx), "fc.bias"));
    assert_int_equal(rp_st_read_f32(ctx, f, "fc.nothing", got, 2), RP_ERR_FORMAT);
    assert_non_null(strstr(rp_ctx_error(ctx), "fc.nothing"));
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    rp_st_close(f);
    /* no temp file is left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
    rp_ctx_destroy(ctx);
}

/* Files as PyTorch writes them: other dtypes convert to float32. */
static void test_dtype_conversion(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "dtypes.safetensors");
    const char *h = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                    "\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[16,24]},"
                    "\"q\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[24,32]},"
                    "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[32,35]},"
                    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[35,39]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[39,41]}}";
    unsigned char data[41];
    double d[2] = {0.5, -3.0};
    int32_t i32[2] = {-7, 100000};
    int64_t i64 = -42;
    memcpy(data, d, 16); /* the test host is little-endian (x86-64/aarch64) */
    memcpy(data + 16, i32, 8);
    memcpy(data + 24, &i64, 8);
    data[32] = 0; data[33] = 128; data[34] = 255;
    data[35] = 0x00; data[36] = 0x3c; /* F16 1.0 */
    data[37] = 0x00; data[38] = 0xc1; /* F16 -2.5 */
    data[39] = 0x40; data[40] = 0x40; /* BF16 3.0 */
    size_t hl = strlen(h);
    unsigned char *b = malloc(8 + hl + sizeof data);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)hl >> (8 * k));
    memcpy(b + 8, h, hl);
    memcpy(b + 8 + hl, data, sizeof data);
    tu_write_file(path, b, 8 + hl + sizeof data);
    free(b);

    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, path, &f), RP_OK);
    float v[3];
    assert_int_equal(rp_st_read_f32(ctx, f, "d", v, 2), RP_OK);
    assert_true(v[0] == 0.5f && v[1] == -3.0f);
    assert_int_equal(rp_st_read_f32(ctx, f, "i", v, 2), RP_OK);
    assert_true(v[0] == -7.0f && v[1] == 100000.0f);
    assert_int_equal(rp_st_read_f32(ctx, f, "q", v, 1), RP_OK);
    assert_true(v[0] == -42.0f);
    assert_int_equal(rp_st_read_f32(ctx, f, "u", v, 3), RP_OK);
    assert_true(v[0] == 0.0f && v[1] == 128.0f && v[2] == 255.0f);
    assert_int_equal(rp_st_read_f32(ctx, f, "h", v, 2), RP_OK);
    assert_true(v[0] == 1.0f && v[1] == -2.5f);
    assert_int_equal(rp_st_read_f32(ctx, f, "b", v, 1), RP_OK);
    assert_true(v[0] == 3.0f);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

static void test_missing_and_short(void **state)
{
    (void)state;
    char path[512];
    expect_open_error(path_in_tmp(path, sizeof path, "does-not-exist.safetensors"), RP_ERR_IO, "cannot open");
    path_in_tmp(path, sizeof path, "short.safetensors");
    tu_write_file(path, "abc", 3);
    expect_open_error(path, RP_ERR_FORMAT, "too short");
    tu_write_file(path, "", 0);
    expect_open_error(path, RP_ERR_FORMAT, "too short");
}

static void test_header_longer_than_file(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "longheader.safetensors");
    unsigned char b[20] = {0};
    b[0] = 200; /* claims a 200-byte header in a 20-byte file */
    memcpy(b + 8, "{}          ", 12);
    tu_write_file(path, b, sizeof b);
    expect_open_error(path, RP_ERR_FORMAT, "header length 200 exceeds file size 20");
    /* a huge length must not overflow the check */
    memset(b, 0xff, 8);
    tu_write_file(path, b, sizeof b);
    expect_open_error(path, RP_ERR_FORMAT, "exceeds file size 20");
}

static void test_truncated_data(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "trunc.safetensors");
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12);
    expect_open_error(path, RP_ERR_FORMAT, "beyond the 12 data bytes");
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "trailing.safetensors");
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 20);
    expect_open_error(path, RP_ERR_FORMAT, "file holds 20 data bytes");
}

static void test_overlap(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "overlap.safetensors");
    write_raw(path,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              12);
    expect_open_error(path, RP_ERR_FORMAT, "overlaps");
}

static void test_gap(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "gap.safetensors");
    write_raw(path,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
              20);
    expect_open_error(path, RP_ERR_FORMAT, "gap");
    /* the first tensor must start at 0 */
    write_raw(path, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4);
    expect_open_error(path, RP_ERR_FORMAT, "gap");
}

static void test_out_of_order_is_fine(void **state)
{
    (void)state;
    /* JSON key order need not follow data order; only the tiling matters */
    char path[512];
    path_in_tmp(path, sizeof path, "order.safetensors");
    write_raw(path,
              "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
              "\"a\":{\"dtype\":\"U8\",\"shape\":[1,2],\"data_offsets\":[0,2]}}",
              4);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, path, &f), RP_OK);
    assert_int_equal(rp_st_count(f), 2);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

static void test_bad_json(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "badjson.safetensors");
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",", 0);
    expect_open_error(path, RP_ERR_FORMAT, "not valid JSON");
    write_raw(path, "{} trailing", 0);
    expect_open_error(path, RP_ERR_FORMAT, "not valid JSON");
    write_raw(path, "[1,2]", 0);
    expect_open_error(path, RP_ERR_FORMAT, "not a JSON object");
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4);
    expect_open_error(path, RP_ERR_FORMAT, "data_offsets");
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(path, RP_ERR_FORMAT, "shape[0]");
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(path, RP_ERR_FORMAT, "shape[0]");
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4);
    expect_open_error(path, RP_ERR_FORMAT, "missing shape");
    write_raw(path,
              "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
              "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
              2);
    expect_open_error(path, RP_ERR_FORMAT, "appears twice");
}

static void test_bad_metadata(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "badmeta.safetensors");
    write_raw(path, "{\"__metadata__\":{\"k\":3}}", 0);
    expect_open_error(path, RP_ERR_FORMAT, "__metadata__");
    write_raw(path, "{\"__metadata__\":[\"k\"]}", 0);
    expect_open_error(path, RP_ERR_FORMAT, "__metadata__");
}

static void test_unknown_dtype(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "dtype.safetensors");
    write_raw(path, "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16);
    expect_open_error(path, RP_ERR_FORMAT, "unknown dtype 'F128'");
}

static void test_shape_size_mismatch(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "size.safetensors");
    write_raw(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20);
    expect_open_error(path, RP_ERR_FORMAT, "tensor 'w'");
    /* overflowing shapes are caught, not wrapped */
    write_raw(path,
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(path, RP_ERR_FORMAT, "tensor 'w'");
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A failing write leaves the existing file byte-for-byte as it was. */
static void test_atomic_write_keeps_old_file(void **state)
{
    (void)state;
    char path[512], tmp[600], dir[512];
    path_in_tmp(path, sizeof path, "atomic.safetensors");
    float a[2] = {1, 2};
    rp_st_entry t = {.name = "a", .dtype = RP_ST_F32, .ndim = 1, .shape = {2}, .data = a};
    rp_ctx *ctx = rp_ctx_create(1);
    assert_int_equal(rp_st_write(ctx, path, &t, 1, NULL, NULL, 0), RP_OK);
    long before = file_size(path);
    assert_true(before > 0);

    /* 1. PATH.tmp cannot be created (a directory is in the way) */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(tmp, 0755), 0);
    float big[100] = {0};
    rp_st_entry t2 = {.name = "b", .dtype = RP_ST_F32, .ndim = 1, .shape = {100}, .data = big};
    assert_int_equal(rp_st_write(ctx, path, &t2, 1, NULL, NULL, 0), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    assert_int_equal(file_size(path), before);
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, path, &f), RP_OK);
    assert_non_null(rp_st_find(f, "a"));
    rp_st_close(f);
    rmdir(tmp);

    /* 2. the destination is a directory */
    path_in_tmp(dir, sizeof dir, "atomic-dir");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(rp_st_write(ctx, dir, &t2, 1, NULL, NULL, 0), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), dir));
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    assert_int_not_equal(access(tmp, F_OK), 0); /* no temp file left */

    /* 3. the directory does not exist */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", tu_tmpdir());
    assert_int_equal(rp_st_write(ctx, missing, &t2, 1, NULL, NULL, 0), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), missing));

    /* 4. a read-only directory (only meaningful when not running as root) */
    if (geteuid() != 0) {
        char ro[512], inro[600];
        path_in_tmp(ro, sizeof ro, "readonly");
        assert_int_equal(mkdir(ro, 0755), 0);
        snprintf(inro, sizeof inro, "%s/w.safetensors", ro);
        assert_int_equal(rp_st_write(ctx, inro, &t, 1, NULL, NULL, 0), RP_OK);
        long sz = file_size(inro);
        chmod(ro, 0555);
        assert_int_equal(rp_st_write(ctx, inro, &t2, 1, NULL, NULL, 0), RP_ERR_IO);
        assert_non_null(strstr(rp_ctx_error(ctx), inro));
        assert_int_equal(file_size(inro), sz);
        chmod(ro, 0755);
    }

    /* 5. invalid requests are refused before touching the file */
    rp_st_entry dup[2] = {t, t};
    assert_int_equal(rp_st_write(ctx, path, dup, 2, NULL, NULL, 0), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "given twice"));
    assert_int_equal(file_size(path), before);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_dtype_conversion),
        cmocka_unit_test(test_missing_and_short),
        cmocka_unit_test(test_header_longer_than_file),
        cmocka_unit_test(test_truncated_data),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_out_of_order_is_fine),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_shape_size_mismatch),
        cmocka_unit_test(test_atomic_write_keeps_old_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
