/* The writer's inner loops in C: the compiled twin of _python.py, which is the reference.
 *
 * Each function gives the same result as its Python twin and raises the same exception type
 * for the same inputs (tests/kernels compares the two on generated inputs). Arguments are
 * checked for their exact types in both (a list where a list is wanted, not a subclass, whose
 * overridden methods C would bypass), with the same messages, in the same order.
 *
 * Any Python code that runs while a loop goes on (a property, a finalizer) may change the
 * lists being read: the loops re-read a list's size at each step, as Python's list iterator
 * does, hold a strong reference to the object they work on, and collect results in a private
 * buffer of strong references that becomes a list only once it is complete, so no list with
 * empty slots is ever reachable from Python code.
 *
 * Only the documented C API of CPython 3.11 and later is used. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h> /* T_OBJECT_EX, PY_AUDIT_READ (descrobject.h from 3.12) */
#endif

/* ---- argument checks, worded as _python.py words them -------------------------------- */

static int
need_exact(PyObject *value, PyTypeObject *kind, const char *what)
{
    if (Py_IS_TYPE(value, kind)) {
        return 0;
    }
    PyObject *name = PyType_GetName(Py_TYPE(value));
    if (name != NULL) {
        PyErr_Format(PyExc_TypeError, "%s must be a %s, not %U", what, kind->tp_name, name);
        Py_DECREF(name);
    }
    return -1;
}

static int
need_items(PyObject *tuple, PyTypeObject *kind, int none_too, const char *message)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (Py_IS_TYPE(item, kind) || (none_too && item == Py_None)) {
            continue;
        }
        PyObject *name = PyType_GetName(Py_TYPE(item));
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError, "%s, not %U", message, name);
            Py_DECREF(name);
        }
        return -1;
    }
    return 0;
}

/* ---- a growing buffer of strong references -------------------------------------------- */

typedef struct {
    PyObject **items;
    Py_ssize_t len;
    Py_ssize_t cap;
} refs;

static int
refs_init(refs *r, Py_ssize_t cap)
{
    if (cap < 8) {
        cap = 8;
    }
    r->len = 0;
    r->cap = cap;
    r->items = PyMem_New(PyObject *, (size_t)cap);
    if (r->items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Releases every reference the buffer holds, and the buffer. */
static void
refs_clear(refs *r)
{
    PyObject **items = r->items;
    Py_ssize_t len = r->len;
    r->items = NULL;
    r->len = r->cap = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_DECREF(items[i]);
    }
    PyMem_Free(items);
}

/* Takes the reference to item, releasing it if the buffer cannot grow. */
static int
refs_push(refs *r, PyObject *item)
{
    if (r->len == r->cap) {
        Py_ssize_t cap = r->cap + r->cap / 2 + 8;
        PyObject **items = NULL;
        if (cap > r->cap && (size_t)cap <= PY_SSIZE_T_MAX / sizeof(PyObject *)) {
            items = PyMem_Realloc(r->items, (size_t)cap * sizeof(PyObject *));
        }
        if (items == NULL) {
            Py_DECREF(item);
            PyErr_NoMemory();
            return -1;
        }
        r->items = items;
        r->cap = cap;
    }
    r->items[r->len++] = item;
    return 0;
}

/* A list of the buffer's objects, which it takes over; the buffer is freed either way. */
static PyObject *
refs_to_list(refs *r)
{
    PyObject *list = PyList_New(r->len);
    if (list == NULL) {
        refs_clear(r);
        return NULL;
    }
    /* No Python code runs from here on, so the list is complete before anything can see it. */
    for (Py_ssize_t i = 0; i < r->len; i++) {
        PyList_SET_ITEM(list, i, r->items[i]);
    }
    PyMem_Free(r->items);
    r->items = NULL;
    r->len = r->cap = 0;
    return list;
}

/* ---- distinct ------------------------------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address, 1, 0)
#else
#define PREFETCH(address) ((void)(address))
#endif

/* Slots are fetched this many objects ahead: the table is larger than the caches, and each
 * object's slot is a random place in it. */
#define AHEAD 16

static inline size_t
slot_of(PyObject *obj, int shift)
{
    /* Fibonacci hashing of the address without its alignment bits: its top bits are spread
     * well even for objects allocated one after another. */
    uint64_t bits = (uint64_t)((uintptr_t)obj >> 4);
    return (size_t)((bits * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
}

PyDoc_STRVAR(distinct_doc,
             "distinct(objs)\n--\n\nWhether no object appears twice (by identity) in ``objs``.");

static PyObject *
distinct(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"objs", NULL};
    PyObject *objs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:distinct", keywords, &objs)) {
        return NULL;
    }
    if (need_exact(objs, &PyList_Type, "objs") < 0) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(objs);
    if (n < 2) {
        Py_RETURN_TRUE;
    }
    /* An open-addressing set of the addresses, at most half full, probed linearly. No Python
     * code runs until it is freed: nothing is hashed or compared but the addresses, so the
     * list cannot change under the scan. */
    size_t cap = 16;
    int shift = 64 - 4;
    while (cap / 2 < (size_t)n) {
        if (cap > PY_SSIZE_T_MAX / (2 * sizeof(PyObject *))) {
            return PyErr_NoMemory();
        }
        cap *= 2;
        shift -= 1;
    }
    size_t mask = cap - 1;
    PyObject **table = PyMem_Calloc(cap, sizeof(PyObject *));
    if (table == NULL) {
        return PyErr_NoMemory();
    }
    int unique = 1;
    for (Py_ssize_t i = 0; i < n && unique; i++) {
        if (i + AHEAD < n) {
            PREFETCH(&table[slot_of(PyList_GET_ITEM(objs, i + AHEAD), shift)]);
        }
        PyObject *obj = PyList_GET_ITEM(objs, i);
        for (size_t at = slot_of(obj, shift);; at = (at + 1) & mask) {
            if (table[at] == NULL) {
                table[at] = obj;
                break;
            }
            if (table[at] == obj) {
                unique = 0;
                break;
            }
        }
    }
    PyMem_Free(table);
    return PyBool_FromLong(unique);
}

/* ---- gather --------------------------------------------------------------------------- */

/* A member descriptor's kind and flags (descrobject.h from 3.12, structmember.h before). */
#if PY_VERSION_HEX >= 0x030C0000
#define MEMBER_OBJECT_EX Py_T_OBJECT_EX
#define MEMBER_NOT_PLAIN (Py_AUDIT_READ | Py_RELATIVE_OFFSET)
#else
#define MEMBER_OBJECT_EX T_OBJECT_EX
#define MEMBER_NOT_PLAIN PY_AUDIT_READ
#endif

/* A type's own dict, as a new reference (from 3.12 a static builtin type keeps it elsewhere). */
static PyObject *
dict_of(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyType_GetDict(type);
#else
    return Py_XNewRef(type->tp_dict);
#endif
}

/* Where PyObject_GetAttr(obj, name), for any instance of ``type``, only reads the object
 * pointer at a fixed offset in the instance: that offset; -1 where it does anything else, or
 * where that cannot be told without running Python code (PyObject_GetAttr is then called).
 *
 * It is so when the type reads attributes the generic way (no __getattribute__ or
 * __getattr__ of its own: tp_getattro is PyObject_GenericGetAttr) and the first class of its
 * MRO whose dict holds ``name`` holds a member descriptor of an object slot (T_OBJECT_EX: a
 * __slots__ slot, or a C type's object member) that applies to the type, neither audited nor
 * at a relative offset. That is the descriptor the generic lookup finds (it walks the MRO the
 * same way), and being a data descriptor it is read before any instance dict: its value is the
 * object at the offset, and an empty slot is the AttributeError that PyObject_GetAttr, called
 * for it, raises and words. msgspec Structs, __slots__ classes and slotted dataclasses read
 * every field so; a property, a plain class attribute or an instance dict entry do not.
 *
 * The MRO is walked here, not read with PyObject_GetAttr(type, name), which a metaclass could
 * answer otherwise. The offset stays valid for the type's instances whatever happens later
 * (an instance layout never changes), but the answer holds only until Python code runs (a
 * class attribute may be set, or deleted): the callers keep no offset past code that may run.
 * (A dict lookup runs Python code only for a key that is a str subclass comparing equal to
 * ``name``; CPython's own lookup runs it as well.) */
static Py_ssize_t
slot_offset(PyTypeObject *type, PyObject *name)
{
#ifdef Py_GIL_DISABLED
    (void)type;
    (void)name;
    return -1; /* without the GIL a slot is read with atomics, by PyMember_GetOne */
#else
    if (type->tp_getattro != PyObject_GenericGetAttr || type->tp_mro == NULL ||
        !PyTuple_Check(type->tp_mro)) {
        return -1;
    }
    PyObject *mro = Py_NewRef(type->tp_mro);
    PyObject *found = NULL;
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro) && found == NULL && !failed; i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        PyObject *dict = PyType_Check(base) ? dict_of((PyTypeObject *)base) : NULL;
        if (dict == NULL || !PyDict_Check(dict)) {
            failed = 1;
        }
        else {
            found = Py_XNewRef(PyDict_GetItemWithError(dict, name));
            failed = found == NULL && PyErr_Occurred();
        }
        Py_XDECREF(dict);
    }
    Py_DECREF(mro);
    if (failed) {
        PyErr_Clear(); /* PyObject_GetAttr will meet (and raise) what stopped the walk */
        Py_XDECREF(found);
        return -1;
    }
    Py_ssize_t offset = -1;
    if (found != NULL && Py_IS_TYPE(found, &PyMemberDescr_Type)) {
        const PyMemberDef *member = ((PyMemberDescrObject *)found)->d_member;
        PyTypeObject *owner = PyDescr_TYPE(found);
        if (member != NULL && member->type == MEMBER_OBJECT_EX &&
            (member->flags & MEMBER_NOT_PLAIN) == 0 && owner != NULL &&
            PyType_IsSubtype(type, owner) && member->offset >= (Py_ssize_t)sizeof(PyObject) &&
            member->offset <= type->tp_basicsize - (Py_ssize_t)sizeof(PyObject *)) {
            offset = member->offset;
        }
    }
    Py_XDECREF(found);
    return offset;
#endif
}

/* Whether ``type`` is one of ``kinds`` (a tuple, compared by identity). */
static inline int
one_of(PyTypeObject *type, PyObject *kinds)
{
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kinds); k++) {
        if (PyTuple_GET_ITEM(kinds, k) == (PyObject *)type) {
            return 1;
        }
    }
    return 0;
}

/* The values of the object this many rows ahead are fetched into the cache (their reference
 * counts are written), and the objects twice as many ahead. */
#define VALUES_AHEAD 8

/* How one column is read, row by row. */
typedef struct {
    Py_ssize_t offset;  /* of its slot, in objects of the type last met */
    PyObject *kinds;    /* the types its values may have (a tuple), or None */
    int checked;        /* whether its values so far are all of kinds */
    PyTypeObject *last; /* the type of the last value found to be of kinds */
} reading;

static inline PyObject *
slot_at(PyObject *obj, Py_ssize_t offset)
{
    return *(PyObject **)((char *)obj + offset);
}

/* Every named attribute of every object read straight from its slot, row by row (each object
 * is visited once), into ``columns`` (one buffer per name, each with room for every object;
 * ``offsets`` has room for one offset per name): 1 when done; 0 as soon as some object needs
 * PyObject_GetAttr for some name (its type reads that otherwise, or the slot is empty).
 *
 * No Python code runs here (but see slot_offset: if some did, and changed the list, the pass
 * gives up), so reading row by row gives what reading column by column, as the Python twin
 * does, gives. */
static int
gather_rows(PyObject *objs, PyObject *names, PyObject *allowed, refs *columns, reading *at)
{
    Py_ssize_t n = PyList_GET_SIZE(objs);
    Py_ssize_t width = PyTuple_GET_SIZE(names);
    for (Py_ssize_t j = 0; j < width; j++) {
        at[j].kinds = PyTuple_GET_ITEM(allowed, j);
        at[j].checked = at[j].kinds != Py_None;
        at[j].last = NULL;
    }
    PyTypeObject *known = NULL; /* the type the offsets are for (a strong reference) */
    int done = 1;
    for (Py_ssize_t i = 0; i < n && done; i++) {
        if (i + 2 * VALUES_AHEAD < n) {
            PREFETCH(PyList_GET_ITEM(objs, i + 2 * VALUES_AHEAD));
        }
        if (i + VALUES_AHEAD < n) {
            PyObject *ahead = PyList_GET_ITEM(objs, i + VALUES_AHEAD);
            if (Py_TYPE(ahead) == known) {
                for (Py_ssize_t j = 0; j < width; j++) {
                    PREFETCH(slot_at(ahead, at[j].offset));
                }
            }
        }
        PyObject *obj = PyList_GET_ITEM(objs, i);
        if (Py_TYPE(obj) != known) {
            Py_INCREF(obj);
            Py_XSETREF(known, (PyTypeObject *)Py_NewRef(Py_TYPE(obj)));
            for (Py_ssize_t j = 0; j < width && done; j++) {
                at[j].offset = slot_offset(known, PyTuple_GET_ITEM(names, j));
                done = at[j].offset >= 0;
            }
            done = done && PyList_GET_SIZE(objs) == n && PyList_GET_ITEM(objs, i) == obj &&
                   Py_TYPE(obj) == known;
            Py_DECREF(obj); /* still in the list, unless the pass stops here */
            if (!done) {
                break;
            }
        }
        for (Py_ssize_t j = 0; j < width; j++) {
            PyObject *value = slot_at(obj, at[j].offset);
            if (value == NULL) {
                done = 0;
                break;
            }
            columns[j].items[columns[j].len++] = Py_NewRef(value);
            /* Its type checked now, while the value is in the cache (all_of_kinds's way). */
            PyTypeObject *type = Py_TYPE(value);
            if (at[j].checked && type != at[j].last) {
                at[j].checked = one_of(type, at[j].kinds);
                at[j].last = type;
            }
        }
    }
    Py_XDECREF(known);
    return done;
}

/* One attribute of every object of objs, as a new list: the column by column way, when some
 * object is not read from its slots alone. A slot is still read directly where slot_offset
 * allows, for a run of objects of one type; PyObject_GetAttr is called for the others. */
static PyObject *
column_of(PyObject *objs, PyObject *name)
{
    refs column;
    if (refs_init(&column, PyList_GET_SIZE(objs)) < 0) {
        return NULL;
    }
    PyTypeObject *known = NULL; /* the type ``offset`` is for (a strong reference) */
    Py_ssize_t offset = -1;
    /* The attribute may be a property, running code that changes objs (or a type). */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        PyObject *obj = Py_NewRef(PyList_GET_ITEM(objs, i));
        if (Py_TYPE(obj) != known) {
            Py_XSETREF(known, (PyTypeObject *)Py_NewRef(Py_TYPE(obj)));
            offset = slot_offset(known, name);
        }
        PyObject *value = NULL;
        if (offset >= 0 && Py_TYPE(obj) == known) {
            value = Py_XNewRef(slot_at(obj, offset));
        }
        if (value == NULL) {
            value = PyObject_GetAttr(obj, name);
            if (offset >= 0) { /* Python code may have run: ask again. "No slot" may stand,
                                * as it only sends an object to PyObject_GetAttr. */
                Py_CLEAR(known);
            }
        }
        Py_DECREF(obj);
        if (value == NULL || refs_push(&column, value) < 0) {
            Py_XDECREF(known);
            refs_clear(&column);
            return NULL;
        }
    }
    Py_XDECREF(known);
    return refs_to_list(&column);
}

/* Whether every value's exact type is one of kinds (compared by identity). */
static int
all_of_kinds(PyObject *column, PyObject *kinds)
{
    PyTypeObject *last = NULL; /* a column is mostly of one type: skip the search for it */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(column); i++) {
        PyTypeObject *type = Py_TYPE(PyList_GET_ITEM(column, i));
        if (type == last) {
            continue;
        }
        if (!one_of(type, kinds)) {
            return 0;
        }
        last = type;
    }
    return 1;
}

/* The columns read row by row from the objects' slots (gather_rows), pushed to ``columns`` as
 * lists, and whether each column's values are all of its ``allowed`` types, in ``checked``: 1
 * when done; 0, nothing pushed, when some object needs PyObject_GetAttr; -1 on an error. */
static int
gather_fast(PyObject *objs, PyObject *names, PyObject *allowed, refs *columns, int *checked)
{
    if (PyList_GET_SIZE(objs) == 0 || PyTuple_GET_SIZE(names) == 0) {
        return 0; /* nothing to read: the column by column way is as quick */
    }
    /* Objects that are not all slots are mostly so from the first (a plain dataclass): then
     * nothing is allocated for the pass. */
    PyObject *first = Py_NewRef(PyList_GET_ITEM(objs, 0));
    Py_ssize_t offset = slot_offset(Py_TYPE(first), PyTuple_GET_ITEM(names, 0));
    Py_DECREF(first);
    Py_ssize_t n = PyList_GET_SIZE(objs);
    Py_ssize_t width = PyTuple_GET_SIZE(names);
    if (offset < 0 || n == 0) {
        return 0;
    }
    refs *read = PyMem_New(refs, (size_t)width);
    reading *at = PyMem_New(reading, (size_t)width);
    if (read == NULL || at == NULL) {
        PyMem_Free(read);
        PyMem_Free(at);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t ready = 0;
    while (ready < width && refs_init(&read[ready], n) == 0) {
        ready++;
    }
    int status = ready < width ? -1 : gather_rows(objs, names, allowed, read, at);
    for (Py_ssize_t j = 0; j < width && status == 1; j++) {
        checked[j] = at[j].checked;
    }
    PyMem_Free(at);
    /* Each buffer becomes a list (which frees it) while all goes well; the rest are freed. */
    for (Py_ssize_t j = 0; j < ready; j++) {
        if (status == 1) {
            PyObject *column = refs_to_list(&read[j]);
            if (column == NULL || refs_push(columns, column) < 0) {
                status = -1;
            }
        }
        else {
            refs_clear(&read[j]);
        }
    }
    PyMem_Free(read);
    return status;
}

PyDoc_STRVAR(gather_doc,
             "gather(objs, names, allowed)\n--\n\n"
             "Each named attribute of every object as a column, and for each column whether every\n"
             "value's exact type is one of its ``allowed`` types (False where ``allowed`` is None).\n"
             "An object without an attribute raises AttributeError.");

static PyObject *
gather(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"objs", "names", "allowed", NULL};
    PyObject *objs, *names, *allowed;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:gather", keywords, &objs, &names,
                                     &allowed)) {
        return NULL;
    }
    if (need_exact(objs, &PyList_Type, "objs") < 0 ||
        need_exact(names, &PyTuple_Type, "names") < 0 ||
        need_exact(allowed, &PyTuple_Type, "allowed") < 0) {
        return NULL;
    }
    Py_ssize_t width = PyTuple_GET_SIZE(names);
    if (PyTuple_GET_SIZE(allowed) != width) {
        PyErr_Format(PyExc_ValueError, "names and allowed differ in length: %zd and %zd", width,
                     PyTuple_GET_SIZE(allowed));
        return NULL;
    }
    if (need_items(names, &PyUnicode_Type, 0, "names must hold str") < 0 ||
        need_items(allowed, &PyTuple_Type, 1, "allowed must hold tuples or None") < 0) {
        return NULL;
    }
    /* The tuples are immutable and the caller holds them, so their items stay alive. */
    int *ok = PyMem_New(int, (size_t)(width > 0 ? width : 1));
    if (ok == NULL) {
        return PyErr_NoMemory();
    }
    refs columns;
    if (refs_init(&columns, width) < 0) {
        PyMem_Free(ok);
        return NULL;
    }
    int fast = gather_fast(objs, names, allowed, &columns, ok);
    if (fast < 0) {
        PyMem_Free(ok);
        refs_clear(&columns);
        return NULL;
    }
    /* Else column by column, as the Python twin goes: the same attribute access fails first. */
    for (Py_ssize_t j = 0; j < width && !fast; j++) {
        PyObject *column = column_of(objs, PyTuple_GET_ITEM(names, j));
        if (column == NULL || refs_push(&columns, column) < 0) {
            PyMem_Free(ok);
            refs_clear(&columns);
            return NULL;
        }
    }
    for (Py_ssize_t j = 0; j < width && !fast; j++) {
        PyObject *kinds = PyTuple_GET_ITEM(allowed, j);
        ok[j] = kinds != Py_None && all_of_kinds(columns.items[j], kinds);
    }
    PyObject *checked = PyList_New(width);
    if (checked == NULL) {
        PyMem_Free(ok);
        refs_clear(&columns);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < width; j++) {
        PyList_SET_ITEM(checked, j, Py_NewRef(ok[j] ? Py_True : Py_False));
    }
    PyMem_Free(ok);
    PyObject *result = NULL;
    PyObject *column_list = refs_to_list(&columns);
    if (column_list != NULL) {
        result = PyTuple_Pack(2, column_list, checked);
        Py_DECREF(column_list);
    }
    Py_DECREF(checked);
    return result;
}

/* ---- exact_items ---------------------------------------------------------------------- */

/* Whether the items of every list of ``values`` (lists all: checked) are of ``kinds``. No
 * Python code runs: nothing is allocated, and nothing but types is compared. */
static int
list_items_of(PyObject *values, PyObject *kinds)
{
    PyTypeObject *last = NULL; /* the items are mostly of one type: skip the search for it */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
        PyObject *value = PyList_GET_ITEM(values, i);
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(value); k++) {
            PyTypeObject *type = Py_TYPE(PyList_GET_ITEM(value, k));
            if (type != last) {
                if (!one_of(type, kinds)) {
                    return 0;
                }
                last = type;
            }
        }
    }
    return 1;
}

/* The same for sets (or frozensets), through their iterators: 1, 0, or -1 on an error (no
 * memory; or a set changed while read, by code a garbage collection ran). */
static int
set_items_of(PyObject *values, PyObject *kinds)
{
    PyTypeObject *last = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
        PyObject *value = Py_NewRef(PyList_GET_ITEM(values, i));
        PyObject *iterator = PyObject_GetIter(value);
        Py_DECREF(value); /* held by the iterator, or not needed */
        if (iterator == NULL) {
            return -1;
        }
        PyObject *item;
        while ((item = PyIter_Next(iterator)) != NULL) {
            PyTypeObject *type = Py_TYPE(item);
            Py_DECREF(item); /* still in the set */
            if (type != last) {
                if (!one_of(type, kinds)) {
                    Py_DECREF(iterator);
                    return 0;
                }
                last = type;
            }
        }
        Py_DECREF(iterator);
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    return 1;
}

PyDoc_STRVAR(exact_items_doc,
             "exact_items(values, container, items)\n--\n\n"
             "Whether every value's exact type is ``container`` (list, set or frozenset) and every\n"
             "item of every value has an exact type among ``items`` (compared by identity).");

static PyObject *
exact_items(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"values", "container", "items", NULL};
    PyObject *values, *container, *items;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:exact_items", keywords, &values,
                                     &container, &items)) {
        return NULL;
    }
    if (need_exact(values, &PyList_Type, "values") < 0) {
        return NULL;
    }
    if (container != (PyObject *)&PyList_Type && container != (PyObject *)&PySet_Type &&
        container != (PyObject *)&PyFrozenSet_Type) {
        PyErr_Format(PyExc_TypeError, "container must be list, set or frozenset, not %R",
                     container);
        return NULL;
    }
    if (need_exact(items, &PyTuple_Type, "items") < 0) {
        return NULL;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(items); k++) {
        PyObject *kind = PyTuple_GET_ITEM(items, k);
        if (!PyType_Check(kind)) {
            PyObject *name = PyType_GetName(Py_TYPE(kind));
            if (name != NULL) {
                PyErr_Format(PyExc_TypeError, "items must hold types, not %U", name);
                Py_DECREF(name);
            }
            return NULL;
        }
    }
    /* First the containers, then their items, as the Python twin goes. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
        if ((PyObject *)Py_TYPE(PyList_GET_ITEM(values, i)) != container) {
            Py_RETURN_FALSE;
        }
    }
    int exact;
    if (container == (PyObject *)&PyList_Type) {
        exact = list_items_of(values, items);
    }
    else {
        /* The iterators are objects, whose allocation may run a garbage collection, and so
         * any Python code: the list is held, and read again at each step. */
        Py_INCREF(values);
        exact = set_items_of(values, items);
        Py_DECREF(values);
    }
    return exact < 0 ? NULL : PyBool_FromLong(exact);
}

/* ---- the module ----------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"distinct", (PyCFunction)(void (*)(void))distinct, METH_VARARGS | METH_KEYWORDS, distinct_doc},
    {"gather", (PyCFunction)(void (*)(void))gather, METH_VARARGS | METH_KEYWORDS, gather_doc},
    {"exact_items", (PyCFunction)(void (*)(void))exact_items, METH_VARARGS | METH_KEYWORDS,
     exact_items_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    /* No module state: each interpreter may have its own GIL. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "amber._kernels._compiled",
    .m_doc = "The writer's inner loops, compiled: the twin of amber._kernels._python.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__compiled(void)
{
    return PyModuleDef_Init(&module);
}
