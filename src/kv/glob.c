/* Glob patterns as Redis's KEYS, SCAN MATCH and ACL key patterns read them: '*' any run,
 * '?' one byte, '[abc]', '[a-z]', '[^...]' classes, '\\' quotes the next byte. Iterative
 * with one backtrack point (the last '*'), so a match costs at most
 * pattern_size * text_size steps whatever the pattern. */
#include "kv/kv_internal.h"

/* Matches one class at pattern[*p] ('[' already consumed) against c; *p moves past ']'. */
static bool class_match(const uint8_t *pattern, uint32_t size, uint32_t *p, uint8_t c)
{
    bool negate = *p < size && pattern[*p] == '^';
    if (negate) {
        (*p)++;
    }
    bool hit = false;
    while (*p < size && pattern[*p] != ']') {
        uint8_t lo = pattern[*p];
        if (lo == '\\' && *p + 1 < size) {
            (*p)++;
            lo = pattern[*p];
        }
        if (*p + 2 < size && pattern[*p + 1] == '-' && pattern[*p + 2] != ']') {
            uint8_t hi = pattern[*p + 2];
            *p += 3;
            if (lo > hi) {
                uint8_t t = lo;
                lo = hi;
                hi = t;
            }
            hit = hit || (c >= lo && c <= hi);
        } else {
            (*p)++;
            hit = hit || c == lo;
        }
    }
    if (*p < size) {
        (*p)++; /* the ']' */
    }
    return negate ? !hit : hit;
}

bool kv_glob_match(const uint8_t *pattern, uint32_t size, const uint8_t *text, uint32_t text_size)
{
    uint32_t p = 0;
    uint32_t t = 0;
    uint32_t star_p = UINT32_MAX;
    uint32_t star_t = 0;
    while (t < text_size) {
        if (p < size && pattern[p] == '*') {
            star_p = ++p;
            star_t = t;
            continue;
        }
        if (p < size) {
            uint32_t next = p;
            bool ok = false;
            if (pattern[p] == '?') {
                ok = true;
                next = p + 1;
            } else if (pattern[p] == '[') {
                next = p + 1;
                ok = class_match(pattern, size, &next, text[t]);
            } else if (pattern[p] == '\\' && p + 1 < size) {
                ok = pattern[p + 1] == text[t];
                next = p + 2;
            } else {
                ok = pattern[p] == text[t];
                next = p + 1;
            }
            if (ok) {
                p = next;
                t++;
                continue;
            }
        }
        if (star_p == UINT32_MAX) {
            return false;
        }
        p = star_p;
        t = ++star_t;
    }
    while (p < size && pattern[p] == '*') {
        p++;
    }
    return p == size;
}
