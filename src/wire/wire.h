/* Frames between nodes (docs/design.md "Layers": wire/).
 *
 * Every frame is a 16-byte header followed by a payload, all little-endian:
 *
 *   offset 0  u32 magic            WIRE_MAGIC ("BALT" on the wire)
 *   offset 4  u8  version          WIRE_VERSION; anything else is refused
 *   offset 5  u8  frame type       wire_frame_type_t
 *   offset 6  u16 flags            0 (reserved; nonzero is refused)
 *   offset 8  u32 payload length   <= the decoder's limit (default MSG_BYTES_MAX)
 *   offset 12 u32 checksum         CRC-32C of header bytes 0..11, then the payload
 *
 * A connection starts with one HELLO frame from each side: it names the cluster, the
 * sender's node id, the node id the sender believes it is talking to, the protocol
 * version, the sender's incarnation and its timing settings. After it come MSG frames (one msg_t
 * each; encode.c gives the field layout) and the snapshot transfer frames. A decoder with
 * expect_hello set refuses anything before the HELLO, a second HELLO, and a message whose
 * `from`/`to` differ from the HELLO's node ids.
 *
 * Decoding never trusts its input: every length is checked against the bytes present and
 * against the limits before use, every decoded message passes msg_validate(), and any
 * failure is an error code with a message; the caller then closes the connection. */
#ifndef BALLOT_WIRE_WIRE_H
#define BALLOT_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/msg.h"

#define WIRE_MAGIC        0x544C4142u /* bytes 'B' 'A' 'L' 'T' */
#define WIRE_VERSION      2u
#define WIRE_HEADER_BYTES 16u
/* Payload bound of a frame when the decoder is given no other. */
#define WIRE_PAYLOAD_BYTES_MAX MSG_BYTES_MAX
/* One snapshot chunk carries at most this many bytes of snapshot. */
#define WIRE_SNAPSHOT_CHUNK_BYTES_MAX ((uint32_t)(1024u * 1024u))
/* Room for an error message (wire_decoder_t.message and the `err` arguments). */
#define WIRE_ERROR_BYTES 160u

typedef enum wire_frame_type {
    WIRE_FRAME_NONE = 0,  /* wire_decoder_next: no whole frame yet, feed more bytes */
    WIRE_FRAME_HELLO = 1, /* wire_hello_t */
    WIRE_FRAME_MSG = 2,   /* msg_t */
    /* Snapshot transfer (a lagging node fetches what the leader compacted away). */
    WIRE_FRAME_SNAPSHOT_REQUEST = 3, /* wire_snapshot_request_t */
    WIRE_FRAME_SNAPSHOT_CHUNK = 4,   /* wire_snapshot_chunk_t */
} wire_frame_type_t;
#define WIRE_FRAME_TYPE_MAX WIRE_FRAME_SNAPSHOT_CHUNK

/* The timing settings every member must share: a lease is only safe when the leader that
 * holds it and the acceptors that granted it count the same length and drift bound
 * (docs/operations.md "Settings every node must share"). */
typedef struct wire_timing {
    uint32_t heartbeat_ms;
    uint32_t election_timeout_min_ms;
    uint32_t election_timeout_max_ms;
    uint32_t lease_ms;
    uint32_t clock_drift_ms;
} wire_timing_t;

/* wire_hello_t.flags */
#define WIRE_HELLO_FOUNDER   1u /* the sender's incarnation began with --bootstrap */
#define WIRE_HELLO_FLAGS_ALL WIRE_HELLO_FOUNDER

typedef struct wire_hello {
    uint32_t version;     /* WIRE_VERSION of the sender */
    uint64_t cluster_id;  /* both sides must agree */
    uint32_t node_id;     /* the sender: 1..NODES_MAX */
    uint32_t peer_id;     /* the node the sender meant to reach, or NODE_NONE (a tool) */
    uint64_t incarnation; /* the sender's data directory's incarnation id (never 0) */
    uint32_t flags;       /* WIRE_HELLO_* */
    wire_timing_t timing; /* must equal the receiver's */
} wire_hello_t;

typedef struct wire_snapshot_request {
    uint64_t slot;   /* the snapshot the requester was told about (snapshot_slot) */
    uint64_t offset; /* resume from this byte of the snapshot */
} wire_snapshot_request_t;

typedef struct wire_snapshot_chunk {
    uint64_t slot;        /* the snapshot's last slot */
    uint64_t total_bytes; /* of the whole snapshot */
    uint64_t offset;      /* of this chunk's first byte; offset + size <= total_bytes */
    uint32_t size;        /* <= WIRE_SNAPSHOT_CHUNK_BYTES_MAX */
    const uint8_t *bytes; /* encode: borrowed; decode: points into the decoder's buffer,
                             valid until its next call */
} wire_snapshot_chunk_t;

/* A decoded frame. For WIRE_FRAME_MSG the caller owns `msg` (msg_free it). */
typedef struct wire_frame {
    wire_frame_type_t type;
    union {
        wire_hello_t hello;
        msg_t msg;
        wire_snapshot_request_t snapshot_request;
        wire_snapshot_chunk_t snapshot_chunk;
    } u;
} wire_frame_t;

/* A byte buffer the encoders append to; it grows with realloc. The fields are public so a
 * driver can hand bytes[0..size) to write() and then wire_buf_consume() what was written. */
typedef struct wire_buf {
    uint8_t *bytes;
    size_t size;     /* bytes in use */
    size_t capacity; /* bytes allocated */
} wire_buf_t;

void wire_buf_init(wire_buf_t *buf);
void wire_buf_free(wire_buf_t *buf);
/* Makes room for `extra` more bytes; BALLOT_ENOMEM (buffer unchanged) when it cannot. */
int wire_buf_reserve(wire_buf_t *buf, size_t extra);
/* Appends bytes; BALLOT_ENOMEM (buffer unchanged) when it cannot grow. */
int wire_buf_append(wire_buf_t *buf, const void *bytes, size_t size);
/* Drops the first `size` bytes (<= buf->size), e.g. after a partial write(). */
void wire_buf_consume(wire_buf_t *buf, size_t size);
/* Empties the buffer, keeping its memory. */
void wire_buf_clear(wire_buf_t *buf);

/* Encoders append exactly one whole frame to `out`, or nothing on error:
 *   BALLOT_EINVAL     the input cannot be encoded (unknown type, node id out of range,
 *                     entries missing, chunk out of bounds)
 *   BALLOT_ETOOLARGE  the payload would exceed WIRE_PAYLOAD_BYTES_MAX
 *   BALLOT_ENOMEM     `out` could not grow
 * Messages are not run through msg_validate() here (the core made them); the receiver
 * does that. */
int wire_encode_hello(wire_buf_t *out, const wire_hello_t *hello);
int wire_encode_msg(wire_buf_t *out, const msg_t *msg);
int wire_encode_snapshot_request(wire_buf_t *out, const wire_snapshot_request_t *request);
int wire_encode_snapshot_chunk(wire_buf_t *out, const wire_snapshot_chunk_t *chunk);
/* Bytes the frame of `msg` takes (header included), or 0 when msg cannot be encoded. */
size_t wire_msg_frame_bytes(const msg_t *msg);

/* Checks a peer's HELLO against what this node expects: same cluster, same version, the
 * sender's id in 1..NODES_MAX and (when expected_node_id != NODE_NONE) equal to it, and
 * peer_id equal to self_id (or NODE_NONE). BALLOT_OK or BALLOT_EINVAL with a reason in
 * err (WIRE_ERROR_BYTES). */
int wire_hello_check(const wire_hello_t *hello, uint64_t cluster_id, uint32_t self_id,
                     uint32_t expected_node_id, char *err, size_t err_bytes);
/* Checks that a peer's timing settings equal this node's; BALLOT_EINVAL names each that
 * differs with both values (give err WIRE_TIMING_ERROR_BYTES). */
#define WIRE_TIMING_ERROR_BYTES 384u
int wire_hello_check_timing(const wire_hello_t *hello, const wire_timing_t *mine, char *err,
                            size_t err_bytes);

/* Decodes the one frame at the start of bytes[0..size).
 *   BALLOT_OK with *consumed > 0 and *out filled: a whole frame;
 *   BALLOT_OK with *consumed == 0 and out->type == WIRE_FRAME_NONE: more bytes needed;
 *   BALLOT_EINVAL     bad magic, unknown version/type/flags, malformed or inconsistent
 *                     payload, or a message msg_validate() refuses;
 *   BALLOT_ETOOLARGE  the payload length is over payload_bytes_max;
 *   BALLOT_ECORRUPT   the checksum does not match;
 *   BALLOT_ENOMEM     no memory for the message's buffers.
 * On error err holds a message and nothing is owned by out. A snapshot chunk's bytes point
 * into `bytes`. payload_bytes_max 0 means WIRE_PAYLOAD_BYTES_MAX. */
int wire_decode_frame(const uint8_t *bytes, size_t size, uint32_t payload_bytes_max,
                      wire_frame_t *out, size_t *consumed, char *err, size_t err_bytes);

/* An incremental stream decoder: bytes go in as TCP delivers them, whole frames come out.
 * Its buffer holds at most one frame (header + payload_bytes_max) plus what was read past
 * it. After an error the decoder stays failed (every call returns that error) and the
 * caller closes the connection. Fields are private; read the error with
 * wire_decoder_error(). */
typedef struct wire_decoder {
    uint8_t *buf;
    size_t start;    /* first byte not yet decoded */
    size_t end;      /* one past the last byte received */
    size_t capacity; /* bytes allocated */
    uint32_t payload_bytes_max;
    bool expect_hello;
    bool hello_seen;
    wire_hello_t hello;
    int error;
    char message[WIRE_ERROR_BYTES];
} wire_decoder_t;

/* expect_hello: enforce the handshake (first frame HELLO, no second HELLO, every message's
 * from == hello.node_id and to == hello.peer_id when that is not NODE_NONE).
 * payload_bytes_max 0 means WIRE_PAYLOAD_BYTES_MAX. */
void wire_decoder_init(wire_decoder_t *dec, bool expect_hello, uint32_t payload_bytes_max);
void wire_decoder_free(wire_decoder_t *dec);
/* Copies bytes in. BALLOT_ENOMEM, or the decoder's sticky error. Drain with
 * wire_decoder_next() after each feed: the buffer then stays within one frame plus one
 * feed. */
int wire_decoder_feed(wire_decoder_t *dec, const void *bytes, size_t size);
/* Zero-copy alternative to feed: room for at least `min_bytes` (> 0) at *space (capacity
 * *space_bytes) to read() into, then wire_decoder_commit() what was read. BALLOT_ENOMEM,
 * or the sticky error. A caller that drains wire_decoder_next() after every read keeps the
 * buffer within one frame plus one read. */
int wire_decoder_space(wire_decoder_t *dec, size_t min_bytes, uint8_t **space, size_t *space_bytes);
void wire_decoder_commit(wire_decoder_t *dec, size_t size);
/* Takes the next whole frame out: BALLOT_OK with out->type == WIRE_FRAME_NONE when no
 * whole frame is buffered; otherwise as wire_decode_frame(). A chunk's bytes stay valid
 * until the next call on the decoder. */
int wire_decoder_next(wire_decoder_t *dec, wire_frame_t *out);
/* The message of the sticky error, "" when none. */
const char *wire_decoder_error(const wire_decoder_t *dec);
/* Bytes buffered but not yet returned as frames. */
size_t wire_decoder_pending(const wire_decoder_t *dec);

const char *wire_frame_type_name(wire_frame_type_t type);

#endif
