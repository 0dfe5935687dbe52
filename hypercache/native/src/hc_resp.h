/* hc_resp.h - the fast path of the RESP request reader (hypercache/resp/reader.py). */
#ifndef HC_RESP_H
#define HC_RESP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* parse_multibulk(buf: bytes, pos: int, out: list, max_bulk: int) -> int
 *
 * Appends to `out` every complete, ordinary multibulk request of `buf` from `pos` on
 * (a list of bytes per request) and returns the position after the last one. It stops,
 * leaving the rest to the Python reader, at the first byte that is not the start of
 * such a request: an inline command, '*0' or '*-1', anything string2ll would refuse
 * or read differently (signs, leading zeros, NULs), a count over 1M, a bulk longer than
 * `max_bulk`, or a request not complete in `buf`. So every error text, limit and
 * partial-request state stays in one place, the Python reader. */
PyObject *hc_parse_multibulk(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
