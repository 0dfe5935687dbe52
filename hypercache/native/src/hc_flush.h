/* hc_flush.h - a flush's table body (data blocks, index entries, filter block) built in C. */
#ifndef HC_FLUSH_H
#define HC_FLUSH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* flush_table(data, block_size, now_ms, error_rate)
 *     -> (records, last_seq, valid_length, stop, pos, a, b, table)
 *
 * Reads a WAL file's bytes as wal_newest does (the first seven items are its own) and,
 * when it read to the end without a problem (stop == 0), builds what _run_flush's
 * Python path would write for the newest record of each key (expired ones as
 * tombstones, at `now_ms`): table = (blocks, index, filter_block, properties), or None
 * when no key is left (a FLUSHALL last, an empty file). `blocks` is every data block
 * back to back, `index` a list of (last ikey, offset in blocks, size) per block,
 * `filter_block` the filter block without its CRC (type 2 at `error_rate`), properties
 * (entries, tombstones, min_seq, max_seq, smallest, largest, expire_ats of the live
 * entries with a TTL). With stop != 0 table is None: the caller reads the file the
 * Python way for the problem text or the error. */
PyObject *hc_flush_table(PyObject *module, PyObject *args);

#endif
