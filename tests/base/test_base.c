#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/crc32c.h"
#include "base/endian.h"

/* Check values of CRC-32C from RFC 3720 appendix B.4 and the common "123456789" vector. */
static void crc32c_known_vectors(void **state)
{
    (void)state;
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
    uint8_t zeros[32];
    memset(zeros, 0, sizeof(zeros));
    assert_int_equal(crc32c(zeros, sizeof(zeros)), 0x8A9136AAu);
    uint8_t ones[32];
    memset(ones, 0xff, sizeof(ones));
    assert_int_equal(crc32c(ones, sizeof(ones)), 0x62A8AB43u);
}

static void crc32c_extend_equals_whole(void **state)
{
    (void)state;
    const char *text = "the seeds: prepare, promise, accept, accepted";
    size_t n = strlen(text);
    for (size_t cut = 0; cut <= n; cut++) {
        uint32_t part = crc32c_extend(crc32c(text, cut), text + cut, n - cut);
        assert_int_equal(part, crc32c(text, n));
    }
}

static void endian_round_trip(void **state)
{
    (void)state;
    uint8_t buf[8];
    put_u64(buf, 0x0102030405060708ull);
    assert_int_equal(buf[0], 0x08);
    assert_true(get_u64(buf) == 0x0102030405060708ull);
    put_u32(buf, 0xA1B2C3D4u);
    assert_int_equal(get_u32(buf), 0xA1B2C3D4u);
    put_u16(buf, 0xBEEF);
    assert_int_equal(get_u16(buf), 0xBEEF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_known_vectors),
        cmocka_unit_test(crc32c_extend_equals_whole),
        cmocka_unit_test(endian_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
