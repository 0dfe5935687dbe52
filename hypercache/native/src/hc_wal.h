/* hc_wal.h - the flush's read of a WAL file (storage/wal.py's newest_records), in C. */
#ifndef HC_WAL_H
#define HC_WAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define HC_WAL_PUT 1
#define HC_WAL_DELETE 2
#define HC_WAL_FLUSHALL 3

/* One good record of a WAL file, pointing into its bytes. A DELETE has kind 0, no
 * value and no body; a FLUSHALL only its type and seq. `key` and `value` are cut at
 * the body's end as Python slices (a lying key length); `value_start` is not. */
typedef struct {
    int type, kind;
    uint64_t seq, expire_at;
    const unsigned char *key, *value, *body;
    Py_ssize_t klen, vlen, blen, value_start;
} hc_wal_record;

/* Why and where a scan stopped: wal_newest's (records, last_seq, valid_length, stop, pos, a, b). */
typedef struct {
    long long records, a, b;
    unsigned long long last_seq;
    Py_ssize_t valid, pos;
    int stop;
} hc_wal_scan_result;

typedef int (*hc_wal_visit)(void *ctx, const hc_wal_record *rec); /* 0, or -1 with an exception set */

/* Visit each good record of a WAL file's bytes in order, as LogReader reads them; fills
 * `out` (see wal_newest for `stop`). Returns -1 only when `visit` did. */
int hc_wal_scan(const unsigned char *buf, Py_ssize_t size, hc_wal_visit visit, void *ctx, hc_wal_scan_result *out);

/* wal_newest(data) -> (latest, records, last_seq, valid_length, stop, pos, a, b)
 *
 * Reads the framed records of a WAL file's bytes (logfile.py: crc32 | length | type |
 * payload) as LogReader and newest_records do: latest = {ikey: (seq, kind, expire_at,
 * body, value_start)} of the newest PUT or DELETE of each key (a DELETE is kind 0 with
 * an empty body and start 0; a FLUSHALL clears what came before), records the good
 * records read, last_seq the largest seq, valid_length where they end. `stop` says why
 * reading stopped, at offset `pos`: 0 the data ended on a record boundary; 1 a torn
 * header (a = the bytes left); 2 an impossible length (a = it); 3 a torn record (a of b
 * bytes); 4 a checksum mismatch; 5 an unknown record type (a = the type, pos = the
 * record's end); 6 a record too short for its type's fields (the caller reads the file
 * the Python way, which raises as it always has). */
PyObject *hc_wal_newest(PyObject *module, PyObject *data);

/* flush_entries(keys, latest) -> list of RawEntry
 *
 * For each ikey of `keys` (in order), popped from `latest` (wal_newest's dict): the
 * table entry (ikey, -seq, kind, expire_at, entry) where entry is block.ENTRY_HEAD
 * (key length, value length) + ikey + sstable.VALUE_HEAD (kind, seq, expire_at) +
 * value, value = body[start:] (compaction.py's _run_flush did this per key in Python). */
PyObject *hc_flush_entries(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
