/* Slot values: a no-op, or a batch of client commands.
 *
 * A command is opaque bytes to the core (the key-value layer gives them meaning) tagged
 * with (client id, sequence) so that a retried command is recognised (docs/design.md step 7).
 * A batch is encoded once, when the leader makes it, and travels, persists and applies as
 * those same bytes:
 *
 *   u32 header, [u64 stamp_ms], then count times: u64 client_id, u64 sequence,
 *   u32 length, length bytes
 *
 * all little-endian. The header's low 31 bits are the count; bit 31 (BATCH_STAMPED) says a
 * u64 stamp follows: the leader's clock in ms when it made the batch, which the state
 * machine uses as its time (docs/design.md "Expiry"). A batch without the bit has stamp 0
 * (time does not advance), as every batch written before stamps existed. Every bound below is
 * checked where input enters: a batch that breaks one is refused, never truncated. */
#ifndef BALLOT_CORE_VALUE_H
#define BALLOT_CORE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One client command's payload (a key-value operation) may be this large: a 64 KiB key,
 * a 1 MiB value and room for the operation's framing. */
#define COMMAND_BYTES_MAX ((uint32_t)(1024u * 1024u + 64u * 1024u + 256u))
/* A batch holds at most this many commands ... */
#define BATCH_COMMANDS_MAX 256u
/* ... and at most this many encoded bytes (a lone command larger than the rest of the
 * budget still travels alone, so this is at least one maximal command). */
#define BATCH_BYTES_MAX            ((uint32_t)(4u * 1024u * 1024u))
#define BATCH_HEADER_BYTES         4u
#define BATCH_STAMP_BYTES          8u
#define BATCH_STAMPED              0x80000000u
#define BATCH_COMMAND_HEADER_BYTES 20u
/* A forwarded command's sequence is at most this: one connection never sends 2^48
 * commands, and a higher one would make every later command of that client stale. */
#define COMMAND_SEQUENCE_MAX ((uint64_t)1 << 48)

typedef enum value_kind {
    VALUE_NOOP = 0,
    VALUE_BATCH = 1,
    VALUE_CONFIG = 2, /* a membership change (below, docs/design.md "Membership change") */
} value_kind_t;
#define VALUE_KIND_MAX VALUE_CONFIG

/* A value owns its bytes (heap) unless stated otherwise. A no-op has no bytes. */
typedef struct value {
    value_kind_t kind;
    uint32_t size;
    uint8_t *bytes;
} value_t;

typedef struct command {
    uint64_t client_id;
    uint64_t sequence;
    uint32_t size;
    const uint8_t *bytes; /* borrowed */
} command_t;

/* A read cursor over a batch's commands. */
typedef struct batch_iter {
    const uint8_t *bytes;
    uint32_t size;
    uint32_t offset;
    uint32_t remaining;
} batch_iter_t;

value_t value_noop(void);
/* Deep copy; false when out of memory. */
bool value_copy(value_t *out, const value_t *in);
void value_free(value_t *v);
bool value_equal(const value_t *a, const value_t *b);

/* Checks that bytes are a well-formed batch within every bound. */
bool batch_validate(const uint8_t *bytes, uint32_t size);
/* Bytes a batch of these commands takes. */
uint64_t batch_encoded_bytes(const command_t *commands, uint32_t count);
/* Encodes commands into a new BATCH value; false when out of memory or over a bound. */
bool batch_encode(value_t *out, const command_t *commands, uint32_t count);
/* Same, stamped with stamp_ms (0: unstamped, as batch_encode). */
bool batch_encode_stamped(value_t *out, const command_t *commands, uint32_t count,
                          uint64_t stamp_ms);
/* A validated batch's stamp in ms; 0 when it has none (or is not a batch). */
uint64_t batch_stamp(const value_t *batch);
/* The iterator assumes a batch that passed batch_validate. */
void batch_iter_init(batch_iter_t *it, const value_t *batch);
bool batch_iter_next(batch_iter_t *it, command_t *out);
uint32_t batch_count(const value_t *batch);

/* Membership (docs/design.md "Membership change").
 *
 * A CONFIG value is the whole new membership: every member's id, role and the address its
 * peers dial (opaque to the core, used by the server). It is encoded, little-endian:
 *
 *   u8 format (MEMBERSHIP_FORMAT), u64 epoch, u8 count,
 *   then count times, ids strictly increasing: u8 id, u8 role, u8 addr_length, addr bytes
 *
 * The epoch counts changes: the founding membership is epoch 0 and each chosen change is
 * the previous epoch + 1. */
#define MEMBERSHIP_FORMAT     1u
#define MEMBER_ADDR_BYTES_MAX 255u
#define MEMBERSHIP_BYTES_MAX  (10u + NODE_IDS_MAX * (3u + MEMBER_ADDR_BYTES_MAX))
/* Member ids are 1..NODE_IDS_MAX (core/msg.h has NODES_MAX = NODE_IDS_MAX). */
#define NODE_IDS_MAX 15u

typedef enum member_role {
    MEMBER_VOTER = 1,   /* counts in every quorum of the slots its configuration governs */
    MEMBER_LEARNER = 2, /* receives the log and snapshots; never counted */
} member_role_t;

typedef struct member {
    uint32_t id;
    member_role_t role;
    char addr[MEMBER_ADDR_BYTES_MAX + 1]; /* NUL-terminated; may be empty */
} member_t;

typedef struct membership {
    uint64_t epoch;
    uint32_t count; /* members sorted by id */
    member_t members[NODE_IDS_MAX];
} membership_t;

/* The founding membership: voters 1..voters, no addresses, epoch 0. */
void membership_founding(membership_t *out, uint32_t voters);
/* Bit id set for every voter (voter_mask) or every member (member_mask). */
uint32_t membership_voter_mask(const membership_t *m);
uint32_t membership_member_mask(const membership_t *m);
uint32_t membership_voters(const membership_t *m);
/* The member with this id, or NULL. */
const member_t *membership_find(const membership_t *m, uint32_t id);
/* Gives member id this role, adding it (ids kept increasing) with addr when it is not a
 * member yet; addr NULL keeps an existing member's address. False (nothing changed) when
 * id is outside 1..NODE_IDS_MAX, the membership is full or addr is too long. */
bool membership_set(membership_t *m, uint32_t id, member_role_t role, const char *addr);
/* Removes member id; false when it is not one. */
bool membership_remove(membership_t *m, uint32_t id);
/* Encodes into a new CONFIG value; false when out of memory or the membership is invalid. */
bool membership_encode(value_t *out, const membership_t *m);
/* Decodes and checks a CONFIG value's bytes; false (nothing written) when malformed. */
bool membership_decode(membership_t *out, const uint8_t *bytes, uint32_t size);
/* Well-formed: 1..NODE_IDS_MAX members with distinct ids in 1..NODE_IDS_MAX, at least one
 * voter, roles known, addresses without NUL. */
bool membership_valid(const membership_t *m);
/* Whether `next` is a change the log may choose after `prev`: epoch prev + 1, and the
 * voter sets differ by at most one id (add, promote, demote, remove one; learners freely).
 * A reason in why when not. */
bool membership_change_allowed(const membership_t *prev, const membership_t *next, char *why,
                               size_t why_bytes);
/* Any value of any kind: a well-formed NOOP, BATCH or CONFIG. */
bool value_valid(const value_t *v);

#endif
