/* libFuzzer: arbitrary bytes as a snapshot file. snapshot_parse and snapshot_read_latest
 * must agree, never crash, and a snapshot that verifies must round-trip: written again
 * from its slot and bytes, it is the same file byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

#define DIR    "/fuzz"
#define FILE_7 DIR "/snap-00000000000000000007.snap"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snapshot_t parsed;
    char msg[256];
    int parse_rc = snapshot_parse(data, size, &parsed, msg, sizeof(msg));
    if (parse_rc != BALLOT_OK && parse_rc != BALLOT_ECORRUPT) {
        abort();
    }
    memio_t *m = memio_create();
    memio_put(m, FILE_7, data, size);
    snapshot_t read;
    snapshot_report_t report;
    int rc = snapshot_read_latest(DIR, memio_io(m), &read, &report);
    bool expect_ok = parse_rc == BALLOT_OK && parsed.slot == 7;
    if (expect_ok != (rc == BALLOT_OK) || (rc != BALLOT_OK && rc != BALLOT_ECORRUPT)) {
        abort();
    }
    if (rc == BALLOT_OK) {
        if (read.size != parsed.size ||
            (read.size > 0 && memcmp(read.bytes, parsed.bytes, (size_t)read.size) != 0)) {
            abort();
        }
        memio_t *again = memio_create();
        if (snapshot_write(DIR, memio_io(again), 7, read.bytes, read.size, NULL, msg,
                           sizeof(msg)) != BALLOT_OK) {
            abort();
        }
        uint8_t *copy = NULL;
        size_t copy_size = 0;
        if (memio_get(again, FILE_7, &copy, &copy_size) != 0 || copy_size != size ||
            memcmp(copy, data, size) != 0) {
            abort();
        }
        free(copy);
        memio_destroy(again);
        snapshot_free(&read);
    }
    memio_destroy(m);
    return 0;
}
