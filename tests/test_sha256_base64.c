/* SHA-256 (the command's, tools/sha256.c) against FIPS 180-4's examples and Python's hashlib
 * (values below computed with hashlib.sha256 independently of this code); the library's base64
 * (rp_base64_encode/decode, which the command's JSON lines and the report share) against RFC
 * 4648's test vectors, round trips of every length 0..64, bad strings and NULL arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rampart.h"
#include "sha256.h"

static void hex_of(const void *data, size_t n, char out[65])
{
    cli_sha256 s;
    cli_sha256_init(&s);
    cli_sha256_update(&s, data, n);
    cli_sha256_hex(&s, out);
}

static void test_sha256_known(void **state)
{
    (void)state;
    char h[65];
    hex_of("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits: padding spills */
    hex_of(two, strlen(two), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* One million 'a' fed in uneven pieces: the buffering must not matter. */
static void test_sha256_pieces(void **state)
{
    (void)state;
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    cli_sha256 s;
    cli_sha256_init(&s);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t k = 1000000 - done < step ? 1000000 - done : step;
        cli_sha256_update(&s, a + done, k);
        done += k, step = step * 7 % 1013 + 1;
    }
    char h[65];
    cli_sha256_hex(&s, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void test_base64_rfc4648(void **state)
{
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = rp_base64_encode((const unsigned char *)in[i], strlen(in[i]));
        assert_string_equal(e, out[i]);
        size_t n = 99;
        unsigned char *d = rp_base64_decode(out[i], &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(in[i]));
        if (n) assert_memory_equal(d, in[i], n);
        free(e), free(d);
    }
}

static void test_base64_round_trip_and_errors(void **state)
{
    (void)state;
    unsigned char buf[64];
    for (int i = 0; i < 64; i++) buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= 64; n++) {
        char *e = rp_base64_encode(buf, n);
        size_t m = 0;
        unsigned char *d = rp_base64_decode(e, &m);
        assert_non_null(d);
        assert_int_equal(m, n);
        if (n) assert_memory_equal(d, buf, n);
        free(e), free(d);
    }
    size_t m;
    assert_null(rp_base64_decode("Zm9v!", &m));
    assert_null(rp_base64_decode("Z", &m));
    assert_null(rp_base64_decode("Zg===", &m));
}

/* NULL arguments are refused with NULL, never dereferenced; empty input is the empty string. */
static void test_base64_null_arguments(void **state)
{
    (void)state;
    size_t m = 7;
    assert_null(rp_base64_encode(NULL, 3));
    assert_null(rp_base64_decode(NULL, &m));
    assert_null(rp_base64_decode("Zm9v", NULL));
    char *e = rp_base64_encode(NULL, 0);
    assert_non_null(e);
    assert_string_equal(e, "");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known),
        cmocka_unit_test(test_sha256_pieces),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_round_trip_and_errors),
        cmocka_unit_test(test_base64_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
