/* hc_lane.h - what the lane (hc_resp.c: GET/MGET, hc_lane_set.c: SET) shares. */
#ifndef HC_LANE_H
#define HC_LANE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hc_hot.h"
#include "hc_memtable.h"

/* The write lane's view of the keyspace and the store (see hc_resp.h, lane_round's
 * `writes`), unpacked, and what the writes of one call changed: the caller applies the
 * sums to the Python objects right after the call (Keyspace.apply_lane_writes). */
typedef struct {
    MemtableEntriesObject *memtable; /* the active memtable's entries (hc_memtable.h); NULL: a pure cache */
    PyObject *wal;         /* the WAL's buffer (bytearray) the records are appended to */
    PyObject *contains;    /* ColdTier.contains: is a key the filter cannot rule out live in the store? */
    PyObject *deltas;      /* list of 5 ints the sums below are added to */
    long long base_seq;    /* the store's last_seq before the call */
    Py_ssize_t hot_overhead; /* values.ENTRY_OVERHEAD */
    /* the sums: writes (seqs base_seq+1.. were used), user bytes written, live keys,
     * hot-tier bytes, keyspace-filter negatives (the lookups the Python path makes:
     * one for a new key's SET, two for its INCR) */
    long long writes, user_bytes, live, used, negatives;
} lane_writes_t;

/* The lane argument, unpacked (see hc_resp.h). `writes` NULL: the write lane is closed. */
typedef struct {
    HotTierObject *hot; /* the keyspace's hot tier (hc_hot.h) */
    PyObject *expires, *reply, *filter, *totals;
    int resp3;
    lane_writes_t *writes;
} lane_t;

/* The commands the lane answers, by the code it reports them with (`last`). */
enum { LANE_GET = 1, LANE_MGET, LANE_SET, LANE_MSET, LANE_INCR, LANE_DECR, LANE_KINDS };

/* The lane's running totals, a list of LANE_TOTALS ints: keys read (GET, MGET), the
 * nulls among them, then calls and their ns for each command code 1.. in turn (code c
 * at 2c and 2c + 1). */
#define LANE_TOTALS (2 * LANE_KINDS)

/* What the lane answered during one parse, for the caller's statistics. */
typedef struct {
    long long totals[LANE_TOTALS]; /* as the running totals */
    int last;                      /* the last request answered: a command code, 0 none */
} lane_counts_t;

/* Is `key` possibly in the keyspace filter `filter` (a native CuckooFilter)? 1 maybe,
 * 0 certainly not, -1 if it cannot say (not a usable cuckoo filter). In _native.c. */
int hc_lane_filter_contains(PyObject *filter, const char *key, Py_ssize_t len);

/* Insert `key` into the keyspace filter, as its insert(key) method does (no Python call,
 * no bytes object): 0, or -1 with the exception insert would raise. In _native.c. */
int hc_lane_filter_insert(PyObject *filter, const char *key, Py_ssize_t len);

/* Does `key` have an entry in the lane's expiry dict? 1, 0, or -1 on error. In hc_resp.c. */
int hc_lane_has_ttl_entry(const lane_t *lane, const char *key, Py_ssize_t len);

/* INCR key (by 1) or DECR key (by -1), the key's bulk header at buf[p]: as
 * hc_lane_set, for an integer string in memory or a key the filter rules out (0 then:
 * a key it cannot rule out needs its value from the store, the ordinary path); anything
 * Python would answer with an error (not an integer, an overflow) is left to it.
 * ":<new value>" in the reply. */
int hc_lane_incr(const char *buf, Py_ssize_t p, long long by, const lane_t *lane, int probe);

/* SET key value, or MSET with `npairs` pairs (the first key's bulk header at buf[p]),
 * through the write lane: 1 if done (or, with `probe`, if it would be done now), 0 if
 * the ordinary path must run it (a key has a TTL entry or a value of another type), -1
 * on error. Done means what Keyspace.set does for each pair: for a key not in memory
 * that the filter cannot rule out, ColdTier.contains (the store's read: is it live?);
 * the WAL record, the memtable entry, the hot tier's entry, the filter; then "+OK" in
 * the reply. */
int hc_lane_set(const char *buf, Py_ssize_t p, Py_ssize_t npairs, const lane_t *lane, int probe);

/* The slot of a key (hc_crc16.c's CRC16 with hash tags). */
#include "hc_crc16.h"

#endif
