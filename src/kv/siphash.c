/* SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012, §2), with the
 * number of compression and finalization rounds as parameters: the store uses 1-3, as
 * Redis does for its dictionaries; the test checks 2-4 against the paper's vector. */
#include <string.h>

#include "base/endian.h"
#include "kv/kv_internal.h"

static inline uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64u - b));
}

typedef struct sip_state {
    uint64_t v0, v1, v2, v3;
} sip_state_t;

static inline void sip_round(sip_state_t *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13) ^ s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17) ^ s->v2;
    s->v2 = rotl(s->v2, 32);
}

static inline void sip_compress(sip_state_t *s, uint64_t m, unsigned rounds)
{
    s->v3 ^= m;
    for (unsigned r = 0; r < rounds; r++) {
        sip_round(s);
    }
    s->v0 ^= m;
}

uint64_t kv_siphash(const uint64_t key[2], const uint8_t *bytes, size_t size,
                    unsigned compression_rounds, unsigned finalization_rounds)
{
    /* The initialization constants spell "somepseudorandomlygeneratedbytes". */
    sip_state_t s = {
        .v0 = key[0] ^ 0x736f6d6570736575ull,
        .v1 = key[1] ^ 0x646f72616e646f6dull,
        .v2 = key[0] ^ 0x6c7967656e657261ull,
        .v3 = key[1] ^ 0x7465646279746573ull,
    };
    size_t whole = size / 8u * 8u;
    for (size_t i = 0; i < whole; i += 8) {
        sip_compress(&s, get_u64(bytes + i), compression_rounds);
    }
    /* The last block: the remaining bytes, and the length's low byte on top. */
    uint64_t last = (uint64_t)size << 56;
    for (size_t i = whole; i < size; i++) {
        last |= (uint64_t)bytes[i] << (8u * (i - whole));
    }
    sip_compress(&s, last, compression_rounds);
    s.v2 ^= 0xffu;
    for (unsigned r = 0; r < finalization_rounds; r++) {
        sip_round(&s);
    }
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
