/* hc_status.h - status codes shared by the native structures. */
#ifndef HC_STATUS_H
#define HC_STATUS_H

#define HC_OK 0
#define HC_EXISTS 1     /* insert-unique: the item may already be there (nothing inserted) */
#define HC_FULL (-1)    /* no room and no growth allowed (or the growth limit is reached) */
#define HC_NOMEM (-2)   /* an allocation failed */
#define HC_INVALID (-3) /* bad parameters or bad serialised input (an error message says which) */

/* Upper bound on the bytes of one structure's tables, for growth and for headers read from
 * untrusted input (a header alone decides how much a chunked load allocates). */
#define HC_MAX_TABLE_BYTES (1ULL << 36)

#endif
