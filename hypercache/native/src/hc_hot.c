/* hc_hot.c - the hot tier's table (hc_hot.h) and its Python type, HotTier. */
#include "hc_hot.h"

#include <string.h>

#include "hc_hash.h"

#define MIN_CAP 4u
#define OLDEST_SAMPLES_MAX 64

/* A bucket holds its entry's pointer with the top 16 bits of the key's 64-bit hash in
 * the pointer's top 16 bits, which user-space pointers leave zero (x86-64 and arm64
 * Linux hand out 47- and 48-bit addresses unless asked for more). A probe passes a
 * bucket whose tag differs without reading its entry: a cache miss saved for each
 * other key on the way, and a key that is absent usually costs no entry read at all. */
#define TAG_SHIFT 48
#define PTR_MASK (((uintptr_t)1 << TAG_SHIFT) - 1)
_Static_assert(sizeof(uintptr_t) == 8, "the hot tier's tagged buckets need 64-bit pointers");

static inline uintptr_t tag_of(uint64_t hash) { return (uintptr_t)(hash >> TAG_SHIFT) << TAG_SHIFT; }

static inline hc_hot_entry *entry_at(const hc_hot_slot *s, uint32_t i) {
    return (hc_hot_entry *)(s->buckets[i] & PTR_MASK);
}

/* Bytes glibc's malloc takes for a request of n (an 8-byte header, 16-byte chunks of
 * at least 32): what `bytes` counts, so INFO and the memory limit see the real cost. */
static uint64_t chunk_of(size_t n) {
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

static size_t entry_size(size_t klen, size_t vlen) { return offsetof(hc_hot_entry, data) + klen + vlen; }

static PyObject *entry_object(const hc_hot_entry *e) {
    PyObject *obj;
    memcpy(&obj, hc_hot_value(e), sizeof obj);
    return obj;
}

/* The bucket index of key (hash: hc_hash64 of it) in slot s: its entry's, or the empty
 * bucket that ends its probe. */
static uint32_t probe(const hc_hot_slot *s, uint64_t hash, const char *key, size_t klen) {
    uint32_t mask = s->cap - 1, i = (uint32_t)hash & mask;
    uintptr_t tag = tag_of(hash);
    for (;;) {
        uintptr_t b = s->buckets[i];
        if (b == 0) return i;
        if ((b & ~PTR_MASK) == tag) {
            const hc_hot_entry *e = (const hc_hot_entry *)(b & PTR_MASK);
            if (e->hash == (uint32_t)hash && e->klen == klen && memcmp(e->data, key, klen) == 0) return i;
        }
        i = (i + 1) & mask;
    }
}

hc_hot_entry *hc_hot_find(HotTierObject *t, uint16_t slot, const char *key, size_t klen) {
    const hc_hot_slot *s = &t->slots[slot];
    if (s->count == 0) return NULL;
    return entry_at(s, probe(s, hc_hash64(key, klen), key, klen));
}

/* Re-lay slot s in a table of `cap` buckets (0: free it). 0, or -1 with MemoryError. */
static int resize(HotTierObject *t, hc_hot_slot *s, uint32_t cap) {
    uintptr_t *fresh = NULL;
    if (cap) {
        fresh = PyMem_RawCalloc(cap, sizeof *fresh);
        if (fresh == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (uint32_t i = 0; i < s->cap; i++) {
            if (s->buckets[i] == 0) continue;
            uint32_t j = entry_at(s, i)->hash & (cap - 1);
            while (fresh[j] != 0) j = (j + 1) & (cap - 1);
            fresh[j] = s->buckets[i];
        }
    }
    if (s->cap) t->bytes -= chunk_of((size_t)s->cap * sizeof *fresh);
    if (cap) t->bytes += chunk_of((size_t)cap * sizeof *fresh);
    PyMem_RawFree(s->buckets);
    s->buckets = fresh;
    s->cap = cap;
    return 0;
}

int hc_hot_put(HotTierObject *t, uint16_t slot, const char *key, size_t klen, const char *value, size_t vlen,
               PyObject *obj, int ttl) {
    hc_hot_slot *s = &t->slots[slot];
    if (obj != NULL) vlen = sizeof obj;
    if (klen > UINT32_MAX || vlen > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "hot tier: key or value over 4 GiB");
        return -1;
    }
    /* grow first (at 3/4 full), so the probe below finds the final bucket */
    if (((uint64_t)s->count + 1) * 4 > (uint64_t)s->cap * 3 && resize(t, s, s->cap ? s->cap * 2 : MIN_CAP) < 0)
        return -1;
    uint64_t hash = hc_hash64(key, klen);
    uint32_t i = probe(s, hash, key, klen);
    hc_hot_entry *old = entry_at(s, i);
    PyObject *dropped = NULL; /* the replaced object value, released last */
    hc_hot_entry *e = old;
    if (old != NULL && (old->flags & HC_HOT_OBJECT)) dropped = entry_object(old);
    if (old == NULL || old->vlen != vlen) {
        /* a new allocation, not realloc: a pointer that cannot carry a tag is refused
         * while the old entry still stands */
        e = PyMem_RawMalloc(entry_size(klen, vlen));
        if (e == NULL || ((uintptr_t)e & ~PTR_MASK) != 0) {
            PyMem_RawFree(e);
            PyErr_NoMemory();
            return -1;
        }
        if (old != NULL) {
            memcpy(e, old, entry_size(klen, 0)); /* the header and the key */
            t->bytes -= chunk_of(entry_size(klen, old->vlen));
            PyMem_RawFree(old);
        }
        t->bytes += chunk_of(entry_size(klen, vlen));
        s->buckets[i] = (uintptr_t)e | tag_of(hash);
    }
    if (old == NULL) {
        e->hash = (uint32_t)hash;
        e->klen = (uint32_t)klen;
        memcpy(e->data, key, klen);
        if (s->count++ == 0) t->occupied[slot] = 1;
        t->group_count[slot / HC_HOT_GROUP]++;
        t->count++;
    }
    e->vlen = (uint32_t)vlen;
    e->flags = (uint8_t)((obj != NULL ? HC_HOT_OBJECT : 0) | (ttl ? HC_HOT_TTL : 0));
    if (obj != NULL) {
        Py_INCREF(obj);
        memcpy(e->data + klen, &obj, sizeof obj);
    } else if (vlen) {
        memcpy(e->data + klen, value, vlen);
    }
    hc_hot_touch(t, e);
    Py_XDECREF(dropped);
    return old == NULL;
}

/* Take the entry at bucket i out of slot s (backward-shift deletion, then a smaller
 * table once it is an eighth full). Returns the entry, for the caller to free. */
static hc_hot_entry *unlink_at(HotTierObject *t, uint16_t slot, uint32_t i) {
    hc_hot_slot *s = &t->slots[slot];
    hc_hot_entry *gone = entry_at(s, i);
    uint32_t mask = s->cap - 1, j = i;
    s->buckets[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (s->buckets[j] == 0) break;
        uint32_t home = entry_at(s, j)->hash & mask;
        /* the entry may move back to i unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->buckets[i] = s->buckets[j];
            s->buckets[j] = 0;
            i = j;
        }
    }
    t->count--;
    t->group_count[slot / HC_HOT_GROUP]--;
    t->bytes -= chunk_of(entry_size(gone->klen, gone->vlen));
    if (--s->count == 0) {
        t->occupied[slot] = 0;
        resize(t, s, 0); /* freeing cannot fail */
    } else if (s->cap > MIN_CAP && (uint64_t)s->count * 8 < s->cap) {
        if (resize(t, s, s->cap / 4) < 0) PyErr_Clear(); /* no memory to shrink: keep the big one */
    }
    return gone;
}

/* ---- Python type ------------------------------------------------------------------- */

static int key_arg(PyObject *key, const char **data, size_t *len, uint16_t *slot) {
    if (!PyBytes_Check(key)) {
        PyErr_Format(PyExc_TypeError, "hot tier: keys are bytes, not %.100s", Py_TYPE(key)->tp_name);
        return -1;
    }
    *data = PyBytes_AS_STRING(key);
    *len = (size_t)PyBytes_GET_SIZE(key);
    *slot = hc_key_slot((const uint8_t *)*data, *len);
    return 0;
}

/* The entry of bytes `key` (NULL if absent) in *e; 0, or -1 with TypeError. */
static int find_key(HotTierObject *t, PyObject *key, hc_hot_entry **e) {
    const char *k;
    size_t klen;
    uint16_t slot;
    if (key_arg(key, &k, &klen, &slot) < 0) return -1;
    *e = hc_hot_find(t, slot, k, klen);
    return 0;
}

static int slot_arg(PyObject *arg, uint16_t *slot) {
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < 0 || v >= HC_SLOT_COUNT) {
        PyErr_SetString(PyExc_ValueError, "slot out of range 0..16383");
        return -1;
    }
    *slot = (uint16_t)v;
    return 0;
}

/* A new reference to the value of e: a new bytes object, or its object. */
static PyObject *value_of(const hc_hot_entry *e) {
    if (e->flags & HC_HOT_OBJECT) return Py_NewRef(entry_object(e));
    return PyBytes_FromStringAndSize(hc_hot_value(e), e->vlen);
}

static PyObject *key_of(const hc_hot_entry *e) { return PyBytes_FromStringAndSize(e->data, e->klen); }

static void clear_all(HotTierObject *t) {
    for (uint32_t n = 0; n < HC_SLOT_COUNT; n++) {
        hc_hot_slot *s = &t->slots[n];
        for (uint32_t i = 0; i < s->cap; i++) {
            hc_hot_entry *e = entry_at(s, i);
            if (e == NULL) continue;
            s->buckets[i] = 0;
            PyObject *obj = (e->flags & HC_HOT_OBJECT) ? entry_object(e) : NULL;
            PyMem_RawFree(e);
            Py_XDECREF(obj);
        }
        PyMem_RawFree(s->buckets);
        s->buckets = NULL;
        s->cap = s->count = 0;
    }
    memset(t->occupied, 0, sizeof t->occupied);
    memset(t->group_count, 0, sizeof t->group_count);
    t->count = 0;
    t->bytes = 0;
}

static PyObject *HotTier_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "HotTier() takes no arguments");
        return NULL;
    }
    return type->tp_alloc(type, 0); /* zeroed: every slot empty */
}

static void HotTier_dealloc(HotTierObject *t) {
    clear_all(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *HotTier_get(HotTierObject *t, PyObject *key) {
    hc_hot_entry *e;
    if (find_key(t, key, &e) < 0) return NULL;
    if (e == NULL) Py_RETURN_NONE;
    hc_hot_touch(t, e);
    return value_of(e);
}

static PyObject *HotTier_set(HotTierObject *t, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "set(key, value, ttl=False)");
        return NULL;
    }
    const char *k;
    size_t klen;
    uint16_t slot;
    if (key_arg(args[0], &k, &klen, &slot) < 0) return NULL;
    int ttl = nargs == 3 ? PyObject_IsTrue(args[2]) : 0;
    if (ttl < 0) return NULL;
    PyObject *value = args[1];
    int rc = PyBytes_CheckExact(value)
                 ? hc_hot_put(t, slot, k, klen, PyBytes_AS_STRING(value), (size_t)PyBytes_GET_SIZE(value), NULL, ttl)
                 : hc_hot_put(t, slot, k, klen, NULL, 0, value, ttl);
    if (rc < 0) return NULL;
    return PyBool_FromLong(rc);
}

static PyObject *HotTier_pop(HotTierObject *t, PyObject *key) {
    const char *k;
    size_t klen;
    uint16_t slot;
    if (key_arg(key, &k, &klen, &slot) < 0) return NULL;
    hc_hot_slot *s = &t->slots[slot];
    if (s->count == 0) Py_RETURN_NONE;
    uint32_t i = probe(s, hc_hash64(k, klen), k, klen);
    hc_hot_entry *e = entry_at(s, i);
    if (e == NULL) Py_RETURN_NONE;
    PyObject *value = value_of(e); /* before anything changes: it may fail */
    if (value == NULL) return NULL;
    if (e->flags & HC_HOT_OBJECT) Py_DECREF(value); /* the entry's reference becomes the caller's */
    PyMem_RawFree(unlink_at(t, slot, i));
    return value;
}

static PyObject *HotTier_has_ttl(HotTierObject *t, PyObject *key) {
    hc_hot_entry *e;
    if (find_key(t, key, &e) < 0) return NULL;
    return PyBool_FromLong(e != NULL && (e->flags & HC_HOT_TTL));
}

static int HotTier_contains(HotTierObject *t, PyObject *key) {
    hc_hot_entry *e;
    if (find_key(t, key, &e) < 0) return -1;
    return e != NULL;
}

static Py_ssize_t HotTier_len(HotTierObject *t) { return (Py_ssize_t)t->count; }

static PyObject *HotTier_slot_len(HotTierObject *t, PyObject *arg) {
    uint16_t slot;
    if (slot_arg(arg, &slot) < 0) return NULL;
    return PyLong_FromUnsignedLong(t->slots[slot].count);
}

/* The keys (with_values 0), (key, value) pairs (1) of a slot in table order, at most
 * `limit` (negative: all). */
static PyObject *slot_list(HotTierObject *t, uint16_t slot, Py_ssize_t limit, int with_values) {
    const hc_hot_slot *s = &t->slots[slot];
    Py_ssize_t n = limit < 0 || limit > (Py_ssize_t)s->count ? (Py_ssize_t)s->count : limit;
    PyObject *out = PyList_New(n);
    if (out == NULL) return NULL;
    Py_ssize_t got = 0;
    for (uint32_t i = 0; i < s->cap && got < n; i++) {
        const hc_hot_entry *e = entry_at(s, i);
        if (e == NULL) continue;
        PyObject *item = with_values ? Py_BuildValue("(NN)", key_of(e), value_of(e)) : key_of(e);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, got++, item);
    }
    return out;
}

static PyObject *HotTier_slot_keys(HotTierObject *t, PyObject *const *args, Py_ssize_t nargs) {
    uint16_t slot;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "slot_keys(slot, count=-1)");
        return NULL;
    }
    if (slot_arg(args[0], &slot) < 0) return NULL;
    Py_ssize_t limit = nargs == 2 ? PyLong_AsSsize_t(args[1]) : -1;
    if (limit == -1 && PyErr_Occurred()) return NULL;
    return slot_list(t, slot, limit, 0);
}

static PyObject *HotTier_slot_items(HotTierObject *t, PyObject *arg) {
    uint16_t slot;
    if (slot_arg(arg, &slot) < 0) return NULL;
    return slot_list(t, slot, -1, 1);
}

static int older_first(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0; /* larger age first */
}

static PyObject *HotTier_slot_keys_by_age(HotTierObject *t, PyObject *arg) {
    uint16_t slot;
    if (slot_arg(arg, &slot) < 0) return NULL;
    const hc_hot_slot *s = &t->slots[slot];
    /* (age << 32 | bucket) sorts by age and then by bucket */
    uint64_t *order = PyMem_Malloc(((size_t)s->count + 1) * sizeof *order);
    if (order == NULL) return PyErr_NoMemory();
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->cap; i++)
        if (s->buckets[i] != 0) order[n++] = (uint64_t)(uint32_t)(t->tick - entry_at(s, i)->tick) << 32 | i;
    qsort(order, n, sizeof *order, older_first);
    PyObject *out = PyList_New(n);
    for (uint32_t j = 0; out != NULL && j < n; j++) {
        PyObject *key = key_of(entry_at(s, (uint32_t)order[j]));
        if (key == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, j, key);
    }
    PyMem_Free(order);
    return out;
}

static PyObject *HotTier_next_occupied(HotTierObject *t, PyObject *arg) {
    long start = PyLong_AsLong(arg);
    if (start == -1 && PyErr_Occurred()) return NULL;
    if (start < 0) start = 0;
    if (start >= HC_SLOT_COUNT) return PyLong_FromLong(-1);
    const uint8_t *hit = memchr(t->occupied + start, 1, (size_t)(HC_SLOT_COUNT - start));
    return PyLong_FromLong(hit == NULL ? -1 : (long)(hit - t->occupied));
}

/* ---- sampling the whole tier ---------------------------------------------------------- */

/* SplitMix64: the stream of numbers one caller-drawn seed gives the samples. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* An entry drawn from the whole tier (t->count > 0) by two random numbers: its slot with
 * probability proportional to the slot's entries (the entry of rank r mod count), then
 * the first full bucket from a random bucket of that slot. */
static hc_hot_entry *sample_entry(const HotTierObject *t, uint64_t r, uint64_t b) {
    uint64_t rank = r % t->count;
    uint32_t g = 0;
    while (rank >= t->group_count[g]) rank -= t->group_count[g++];
    uint32_t slot = g * HC_HOT_GROUP;
    while (rank >= t->slots[slot].count) rank -= t->slots[slot++].count;
    const hc_hot_slot *s = &t->slots[slot];
    uint32_t i = (uint32_t)b & (s->cap - 1);
    while (s->buckets[i] == 0) i = (i + 1) & (s->cap - 1);
    return entry_at(s, i);
}

static int sample_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, const char *usage, uint64_t *seed) {
    if (nargs != want) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLongMask(args[0]);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *seed = v;
    return 0;
}

/* sample_key(pick): a key drawn from the whole tier (about uniformly) by the random
 * number `pick`, or None for an empty tier. */
static PyObject *HotTier_sample_key(HotTierObject *t, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t seed;
    if (sample_args(args, nargs, 1, "sample_key(pick)", &seed) < 0) return NULL;
    if (t->count == 0) Py_RETURN_NONE;
    uint64_t r = splitmix64(&seed);
    return key_of(sample_entry(t, r, splitmix64(&seed)));
}

/* sample_oldest(pick, samples): the least recently used of `samples` keys drawn from
 * the whole tier by the random number `pick`; None for an empty tier. */
static PyObject *HotTier_sample_oldest(HotTierObject *t, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t seed;
    if (sample_args(args, nargs, 2, "sample_oldest(pick, samples)", &seed) < 0) return NULL;
    long samples = PyLong_AsLong(args[1]);
    if (samples == -1 && PyErr_Occurred()) return NULL;
    if (samples < 1 || samples > OLDEST_SAMPLES_MAX) {
        PyErr_SetString(PyExc_ValueError, "samples out of range 1..64");
        return NULL;
    }
    if (t->count == 0) Py_RETURN_NONE;
    const hc_hot_entry *oldest = NULL;
    uint32_t oldest_age = 0;
    for (long n = 0; n < samples; n++) {
        uint64_t r = splitmix64(&seed);
        const hc_hot_entry *e = sample_entry(t, r, splitmix64(&seed));
        uint32_t age = t->tick - e->tick;
        if (oldest == NULL || age > oldest_age) {
            oldest = e;
            oldest_age = age;
        }
    }
    return key_of(oldest);
}

static PyObject *HotTier_clear(HotTierObject *t, PyObject *Py_UNUSED(ignored)) {
    clear_all(t);
    Py_RETURN_NONE;
}

static PyObject *HotTier_get_bytes(HotTierObject *t, void *Py_UNUSED(closure)) {
    return PyLong_FromUnsignedLongLong(t->bytes);
}

static PyMethodDef HotTier_methods[] = {
    {"get", (PyCFunction)HotTier_get, METH_O, "get(key) -> value | None; counts as a use of the key"},
    {"set", (PyCFunction)(void (*)(void))HotTier_set, METH_FASTCALL,
     "set(key, value, ttl=False) -> True if the key was new. A bytes value is copied in; any other value is "
     "held by reference. `ttl`: the key has an expiry (the lane leaves such keys to Python)."},
    {"pop", (PyCFunction)HotTier_pop, METH_O, "pop(key) -> the value removed, or None"},
    {"has_ttl", (PyCFunction)HotTier_has_ttl, METH_O, "has_ttl(key) -> bool: held with set(..., ttl=True)"},
    {"slot_len", (PyCFunction)HotTier_slot_len, METH_O, "slot_len(slot) -> keys held in the slot"},
    {"slot_keys", (PyCFunction)(void (*)(void))HotTier_slot_keys, METH_FASTCALL,
     "slot_keys(slot, count=-1) -> list of the slot's keys (table order; at most count)"},
    {"slot_items", (PyCFunction)HotTier_slot_items, METH_O, "slot_items(slot) -> list of (key, value)"},
    {"slot_keys_by_age", (PyCFunction)HotTier_slot_keys_by_age, METH_O,
     "slot_keys_by_age(slot) -> the slot's keys, least recently used first"},
    {"next_occupied", (PyCFunction)HotTier_next_occupied, METH_O,
     "next_occupied(start) -> the first slot >= start holding a key, or -1"},
    {"sample_key", (PyCFunction)(void (*)(void))HotTier_sample_key, METH_FASTCALL,
     "sample_key(pick) -> a key drawn from the whole tier (about uniformly) by the random number `pick`, or None"},
    {"sample_oldest", (PyCFunction)(void (*)(void))HotTier_sample_oldest, METH_FASTCALL,
     "sample_oldest(pick, samples) -> the least recently used of `samples` keys drawn from the whole tier by "
     "the random number `pick`, or None"},
    {"clear", (PyCFunction)HotTier_clear, METH_NOARGS, "clear(): drop every key"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef HotTier_getset[] = {
    {"bytes", (getter)HotTier_get_bytes, NULL, "estimated heap bytes held (entries and tables)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods HotTier_as_sequence = {
    .sq_length = (lenfunc)HotTier_len,
    .sq_contains = (objobjproc)HotTier_contains,
};

PyTypeObject HotTierType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hypercache.native._native.HotTier",
    .tp_doc = "The hot tier: bytes keys to values in memory, by cluster slot (see hc_hot.h).",
    .tp_basicsize = sizeof(HotTierObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = HotTier_new,
    .tp_dealloc = (destructor)HotTier_dealloc,
    .tp_methods = HotTier_methods,
    .tp_getset = HotTier_getset,
    .tp_as_sequence = &HotTier_as_sequence,
};
