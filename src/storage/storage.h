/* Ballot's durable storage layer, in one include:
 *
 *   storage/io.h         the I/O backend (function table) and its POSIX implementation
 *   storage/wal.h        the write-ahead log: open + recover, append, sync, compact
 *   storage/committer.h  the storage thread that group-commits for ballotd
 *   storage/snapshot.h   atomic, checksummed snapshots with fallback
 *   storage/memio.h      an in-memory backend with crashes and faults (tests, fuzzing)
 *
 * Link ballot_storage. docs/storage.md describes the on-disk format and recovery rules. */
#ifndef BALLOT_STORAGE_STORAGE_H
#define BALLOT_STORAGE_STORAGE_H

#include "storage/committer.h"
#include "storage/io.h"
#include "storage/memio.h"
#include "storage/snapshot.h"
#include "storage/wal.h"

#endif
