/* hc_compact.h - a compaction's merge of its input tables, one output table at a time, in C. */
#ifndef HC_COMPACT_H
#define HC_COMPACT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* compact_table(inputs, cursors, last_key, target_size, block_size, now_ms,
 *               drop_tombstones, error_rate) -> (table, last_key)
 *
 * inputs: one (buffer, [(offset, size) of each data block]) per input table, the
 * buffer its whole file (a read-only mmap); cursors: one [block, entry] list per
 * input, where its unread entries start ([0, 0] at first), updated in place.
 * Merges the inputs' entries in key order, newest first within a key, keeping the
 * first (newest) of each key and skipping any of `last_key` (the previous table's
 * last): an expired entry (expire_at <= now_ms) becomes a tombstone, and tombstones
 * go when drop_tombstones. Stops once the table's estimated size reaches target_size.
 * table is what hc_table_finish returns (TableBuilder.add_built's arguments), None
 * when the inputs ended with nothing more to write. A block whose checksum or layout
 * is wrong raises ValueError((input index, message)). */
PyObject *hc_compact_table(PyObject *module, PyObject *args);

#endif
