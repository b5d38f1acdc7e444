/* The `ballot` tool's output formats: -w simple|table|json (cli.h). */
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"

bool cli_is_utf8(const char *bytes, size_t size)
{
    const unsigned char *p = (const unsigned char *)bytes;
    size_t i = 0;
    while (i < size) {
        unsigned char c = p[i];
        size_t extra = 0;
        uint32_t cp = 0;
        if (c < 0x80u) {
            i++;
            continue;
        } else if ((c & 0xe0u) == 0xc0u) {
            extra = 1;
            cp = c & 0x1fu;
        } else if ((c & 0xf0u) == 0xe0u) {
            extra = 2;
            cp = c & 0x0fu;
        } else if ((c & 0xf8u) == 0xf0u) {
            extra = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (i + extra >= size) {
            return false;
        }
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xc0u) != 0x80u) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3fu);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        static const uint32_t smallest[4] = {0, 0x80u, 0x800u, 0x10000u};
        if (cp < smallest[extra] || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu)) {
            return false;
        }
        i += extra + 1u;
    }
    return true;
}

void cli_json_string(FILE *out, const char *bytes, size_t size)
{
    fputc('"', out);
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)bytes[i];
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (c < 0x20u || c == 0x7fu) {
                fprintf(out, "\\u%04x", c);
            } else {
                fputc(c, out);
            }
            break;
        }
    }
    fputc('"', out);
}

void cli_base64(FILE *out, const char *bytes, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)bytes;
    fputc('"', out);
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t left = size - i;
        if (left > 1) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (left > 2) {
            v |= p[i + 2];
        }
        fputc(alphabet[(v >> 18) & 63u], out);
        fputc(alphabet[(v >> 12) & 63u], out);
        fputc(left > 1 ? alphabet[(v >> 6) & 63u] : '=', out);
        fputc(left > 2 ? alphabet[v & 63u] : '=', out);
    }
    fputc('"', out);
}

void cli_table_init(cli_table_t *t, uint32_t columns)
{
    memset(t, 0, sizeof(*t));
    t->columns = columns < CLI_TABLE_COLUMNS_MAX ? columns : CLI_TABLE_COLUMNS_MAX;
}

bool cli_table_add(cli_table_t *t, const char *const *cells)
{
    if (t->rows == t->rows_cap) {
        uint32_t cap = t->rows_cap == 0 ? 8u : t->rows_cap * 2u;
        char **grown = realloc(t->cells, (size_t)cap * t->columns * sizeof(*grown));
        if (grown == NULL) {
            return false;
        }
        t->cells = grown;
        t->rows_cap = cap;
    }
    char **row = t->cells + (size_t)t->rows * t->columns;
    for (uint32_t c = 0; c < t->columns; c++) {
        row[c] = strdup(cells[c] != NULL ? cells[c] : "");
        if (row[c] == NULL) {
            for (uint32_t k = 0; k < c; k++) {
                free(row[k]);
            }
            return false;
        }
    }
    t->rows++;
    return true;
}

void cli_table_free(cli_table_t *t)
{
    for (size_t i = 0; i < (size_t)t->rows * t->columns; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

static const char *cell(const cli_table_t *t, uint32_t row, uint32_t column)
{
    return t->cells[(size_t)row * t->columns + column];
}

static void print_rule(const size_t *width, uint32_t columns, FILE *out)
{
    for (uint32_t c = 0; c < columns; c++) {
        fputc('+', out);
        for (size_t k = 0; k < width[c] + 2u; k++) {
            fputc('-', out);
        }
    }
    fputs("+\n", out);
}

static void print_json(const cli_table_t *t, FILE *out)
{
    fputc('[', out);
    for (uint32_t r = 0; r < t->rows; r++) {
        fputs(r == 0 ? "\n  {" : ",\n  {", out);
        for (uint32_t c = 0; c < t->columns; c++) {
            const char *v = cell(t, r, c);
            fprintf(out, "%s\"%s\": ", c == 0 ? "" : ", ", t->json_keys[c]);
            if (t->json_raw[c] && v[0] != '\0') {
                fputs(v, out);
            } else if (t->json_raw[c]) {
                fputs("null", out);
            } else {
                cli_json_string(out, v, strlen(v));
            }
        }
        fputc('}', out);
    }
    fputs(t->rows == 0 ? "]\n" : "\n]\n", out);
}

void cli_table_print(const cli_table_t *t, cli_format_t format, FILE *out)
{
    if (format == CLI_FORMAT_JSON) {
        print_json(t, out);
        return;
    }
    size_t width[CLI_TABLE_COLUMNS_MAX];
    for (uint32_t c = 0; c < t->columns; c++) {
        width[c] = strlen(t->headers[c]);
        for (uint32_t r = 0; r < t->rows; r++) {
            size_t n = strlen(cell(t, r, c));
            width[c] = n > width[c] ? n : width[c];
        }
    }
    bool boxed = format == CLI_FORMAT_TABLE;
    if (boxed) {
        print_rule(width, t->columns, out);
    }
    for (int32_t r = -1; r < (int32_t)t->rows; r++) {
        for (uint32_t c = 0; c < t->columns; c++) {
            const char *v = r < 0 ? t->headers[c] : cell(t, (uint32_t)r, c);
            bool last = c + 1u == t->columns;
            if (boxed) {
                fprintf(out, "| %-*s ", (int)width[c], v);
            } else if (last) {
                fputs(v, out);
            } else {
                fprintf(out, "%-*s  ", (int)width[c], v);
            }
        }
        fputs(boxed ? "|\n" : "\n", out);
        if (boxed && r < 0) {
            print_rule(width, t->columns, out);
        }
    }
    if (boxed) {
        print_rule(width, t->columns, out);
    }
}
