/* hc_table_get.c - a point lookup in one SSTable (storage/sstable.py's TableReader.get):
 * the index block searched, the data block read with pread and its CRC-32 checked, the
 * entry found by binary search, in one C call. A read of a key not in memory costs a
 * lookup in every table that may hold it; in Python the two binary searches over
 * block entries were most of that. */
#include "hc_table_get.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hc_crc32.h"
#include "hc_table.h"

#define HANDLE_SIZE 12 /* sstable._HANDLE: offset u64, size u32 */

/* hc_block_open with Block.__init__'s error texts (`what` names the block). */
static int open_block(hc_block *b, const unsigned char *data, Py_ssize_t len, const char *what) {
    int rc = hc_block_open(b, data, len);
    if (rc == HC_BLOCK_BAD_COUNT)
        PyErr_Format(PyExc_ValueError, "%s entry count %zd does not fit", what,
                     (Py_ssize_t)hc_get_le(data + len - HC_BLOCK_TRAILER, 4));
    else if (rc)
        PyErr_Format(PyExc_ValueError, "%s entry offset out of range", what);
    return rc ? -1 : 0;
}

/* Block.seek: the first entry whose key is >= key (b->n if none); -1 on a bad entry. */
static Py_ssize_t seek(const hc_block *b, const unsigned char *key, Py_ssize_t klen, const char *what) {
    Py_ssize_t lo = 0, hi = b->n, ek, vl;
    const unsigned char *e, *v;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (hc_block_entry(b, mid, &e, &ek, &v, &vl)) {
            PyErr_Format(PyExc_ValueError, "%s entry out of range", what);
            return -1;
        }
        if (hc_key_cmp(e, ek, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

PyObject *hc_table_get(PyObject *Py_UNUSED(module), PyObject *args) {
    int fd;
    Py_buffer index, key;
    Py_ssize_t file_size;
    if (!PyArg_ParseTuple(args, "iy*y*n:table_get", &fd, &index, &key, &file_size)) return NULL;
    PyObject *result = NULL, *raw = NULL;
    hc_block ib, db;
    Py_ssize_t i, size = 0;
    if (index.len < HC_BLOCK_TRAILER) {
        PyErr_SetString(PyExc_ValueError, "index block truncated");
        goto done;
    }
    if (open_block(&ib, index.buf, index.len, "index block") < 0) goto done;
    if ((i = seek(&ib, key.buf, key.len, "index block")) < 0) goto done;
    if (i == ib.n) { /* past the table's last key */
        result = Py_BuildValue("(nO)", (Py_ssize_t)0, Py_None);
        goto done;
    }
    const unsigned char *ik, *handle;
    Py_ssize_t iklen, hl;
    if (hc_block_entry(&ib, i, &ik, &iklen, &handle, &hl) || hl < HANDLE_SIZE) {
        PyErr_SetString(PyExc_ValueError, "index block entry out of range");
        goto done;
    }
    Py_ssize_t offset = (Py_ssize_t)hc_get_le(handle, 8);
    size = (Py_ssize_t)hc_get_le(handle + 8, 4);
    if (offset < 0 || offset + size > file_size || size < 8) { /* TableReader._read_checked */
        PyErr_Format(PyExc_ValueError, "data block %zd handle out of range", i);
        goto done;
    }
    if ((raw = PyBytes_FromStringAndSize(NULL, size)) == NULL) goto done;
    unsigned char *data = (unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t got;
    Py_BEGIN_ALLOW_THREADS
    got = pread(fd, data, (size_t)size, (off_t)offset);
    Py_END_ALLOW_THREADS
    if (got < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    if (got != size) {
        PyErr_Format(PyExc_ValueError, "short read at offset %zd (%zd of %zd bytes)", offset, got, size);
        goto done;
    }
    if (hc_crc32(0, data, (size_t)size - 4) != (uint32_t)hc_get_le(data + size - 4, 4)) {
        PyErr_Format(PyExc_ValueError, "data block %zd checksum mismatch", i);
        goto done;
    }
    char what[40];
    snprintf(what, sizeof what, "data block %zd", i);
    if (open_block(&db, data, size, what) < 0) goto done;
    Py_ssize_t j = seek(&db, key.buf, key.len, what);
    if (j < 0) goto done;
    const unsigned char *ek, *v;
    Py_ssize_t eklen, vl;
    if (j == db.n || hc_block_entry(&db, j, &ek, &eklen, &v, &vl) || hc_key_cmp(ek, eklen, key.buf, key.len) != 0) {
        result = Py_BuildValue("(nO)", size, Py_None);
        goto done;
    }
    if (vl < HC_VALUE_HEAD) {
        PyErr_Format(PyExc_ValueError, "%s entry out of range", what);
        goto done;
    }
    unsigned long long seq = hc_get_le(v + 1, 8), expire_at = hc_get_le(v + 9, 8);
    PyObject *expire = expire_at ? PyLong_FromUnsignedLongLong(expire_at) : Py_NewRef(Py_None);
    if (expire != NULL)
        result = Py_BuildValue("(n(iy#NK))", size, (int)v[0], (const char *)v + HC_VALUE_HEAD,
                               vl - HC_VALUE_HEAD, expire, seq);
done:
    Py_XDECREF(raw);
    PyBuffer_Release(&index);
    PyBuffer_Release(&key);
    return result;
}
