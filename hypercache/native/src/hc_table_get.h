/* hc_table_get.h - a point lookup in one SSTable, in C. */
#ifndef HC_TABLE_GET_H
#define HC_TABLE_GET_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* table_get(fd, index_block, ikey, file_size) -> (bytes_read, record)
 *
 * TableReader.get without its Python steps: the first data block whose last key is >=
 * ikey (from the verified index block's bytes), read with pread from the table file
 * `fd` and its CRC-32 checked, then the entry of ikey in it. record is (kind, value,
 * expire_at or None, seq), or None (no such entry; bytes_read 0 when no block can hold
 * it). A damaged block or a handle out of the file raises ValueError(message) with
 * TableReader's texts; an I/O error, OSError. */
PyObject *hc_table_get(PyObject *module, PyObject *args);

#endif
