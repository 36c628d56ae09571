/* The identity index in C: the compiled twin of _identity.py, which is the reference.
 *
 * IdIndex(objs) records where each object of a list sat (the first position of an object met
 * twice), by address. Like the Python class, which keys a dict by id(), it holds no
 * reference to the objects: a position found says only where an object *with that address*
 * was, and the caller checks it against the list.
 *
 * The addresses and positions live in an open-addressing table, at most half full, probed
 * linearly. Nothing but the addresses is hashed or compared, so no Python code runs while a
 * list is read: it cannot change under the scan. Results become a list only once every item
 * exists, so no list with empty slots is ever reachable from Python code (a garbage
 * collection run by an allocation could otherwise find it).
 *
 * The type is a heap type (one per interpreter, no static state) that cannot be subclassed.
 * Only the documented C API of CPython 3.11 and later is used. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address, 0, 0)
#else
#define PREFETCH(address) ((void)(address))
#endif

/* Slots are fetched this many objects ahead: a large table is larger than the caches, and
 * each object's slot is a random place in it. */
#define AHEAD 16

typedef struct {
    const void *address; /* NULL: an empty slot (no object lives at NULL) */
    Py_ssize_t position;
} entry;

typedef struct {
    entry *slots; /* NULL while empty */
    size_t mask;  /* the number of slots less one (a power of two less one) */
    Py_ssize_t count;
    int duplicates;
} table;

typedef struct {
    PyObject_HEAD
    table index;
} IdIndexObject;

/* Where an address's probe starts: the murmur3 finalizer of the address, whose low bits
 * depend on all of its bits (objects are 16-byte aligned: an address's own low bits are 0). */
static inline size_t
home(const void *address, size_t mask)
{
    uint64_t bits = (uint64_t)(uintptr_t)address;
    bits ^= bits >> 33;
    bits *= UINT64_C(0xFF51AFD7ED558CCD);
    bits ^= bits >> 33;
    bits *= UINT64_C(0xC4CEB9FE1A85EC53);
    bits ^= bits >> 33;
    return (size_t)bits & mask;
}

/* Worded as _python.py's _need words it. */
static int
need_list(PyObject *value)
{
    if (PyList_CheckExact(value)) {
        return 0;
    }
    PyObject *name = PyType_GetName(Py_TYPE(value));
    if (name != NULL) {
        PyErr_Format(PyExc_TypeError, "objs must be a list, not %U", name);
        Py_DECREF(name);
    }
    return -1;
}

/* Index the objects of a list (which must not change meanwhile: no Python code runs here). */
static int
table_build(table *t, PyObject *objs)
{
    Py_ssize_t n = PyList_GET_SIZE(objs);
    t->slots = NULL;
    t->mask = 0;
    t->count = 0;
    t->duplicates = 0;
    if (n == 0) {
        return 0;
    }
    size_t cap = 8;
    while (cap / 2 < (size_t)n) {
        if (cap > (size_t)PY_SSIZE_T_MAX / (2 * sizeof(entry))) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    entry *slots = PyMem_Calloc(cap, sizeof(entry));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = cap - 1;
    PyObject **items = PySequence_Fast_ITEMS(objs);
    Py_ssize_t count = 0;
    int duplicates = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + AHEAD < n) {
            PREFETCH(&slots[home(items[i + AHEAD], mask)]);
        }
        const void *address = items[i];
        for (size_t at = home(address, mask);; at = (at + 1) & mask) {
            if (slots[at].address == NULL) {
                slots[at].address = address;
                slots[at].position = i;
                count++;
                break;
            }
            if (slots[at].address == address) { /* met before: its first position stays */
                duplicates = 1;
                break;
            }
        }
    }
    t->slots = slots;
    t->mask = mask;
    t->count = count;
    t->duplicates = duplicates;
    return 0;
}

static void
table_free(table *t)
{
    PyMem_Free(t->slots);
    t->slots = NULL;
    t->mask = 0;
    t->count = 0;
    t->duplicates = 0;
}

/* ---- the type ------------------------------------------------------------------------- */

static int
IdIndex_init(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"objs", NULL};
    PyObject *objs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:IdIndex", keywords, &objs)) {
        return -1;
    }
    if (need_list(objs) < 0) {
        return -1;
    }
    /* Built aside, then swapped in: called again and failing, __init__ leaves the index it
     * had, as the Python class does. */
    table built;
    if (table_build(&built, objs) < 0) {
        return -1;
    }
    IdIndexObject *index = (IdIndexObject *)self;
    table_free(&index->index);
    index->index = built;
    return 0;
}

static void
IdIndex_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    table_free(&((IdIndexObject *)self)->index);
    type->tp_free(self);
    Py_DECREF(type); /* an instance of a heap type holds a reference to it */
}

static Py_ssize_t
IdIndex_len(PyObject *self)
{
    return ((IdIndexObject *)self)->index.count;
}

static PyObject *
IdIndex_get_duplicates(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(((IdIndexObject *)self)->index.duplicates);
}

/* A position found, then the int made of it. */
typedef union {
    Py_ssize_t position;
    PyObject *number;
} cell;

/* Releases the first ``made`` ints, and the buffer. */
static void
cells_free(cell *cells, Py_ssize_t made)
{
    for (Py_ssize_t i = 0; i < made; i++) {
        Py_DECREF(cells[i].number);
    }
    PyMem_Free(cells);
}

PyDoc_STRVAR(find_doc, "find($self, /, objs)\n--\n\n"
                       "The position of each object, -1 where it was not in the list.");

static PyObject *
IdIndex_find(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"objs", NULL};
    PyObject *objs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:find", keywords, &objs)) {
        return NULL;
    }
    if (need_list(objs) < 0) {
        return NULL;
    }
    const table *t = &((IdIndexObject *)self)->index;
    Py_ssize_t n = PyList_GET_SIZE(objs);
    cell *found = PyMem_New(cell, (size_t)(n > 0 ? n : 1));
    if (found == NULL) {
        return PyErr_NoMemory();
    }
    /* First the positions, as plain numbers: no Python object is made, so no Python code can
     * run while objs is read. */
    PyObject **items = PySequence_Fast_ITEMS(objs);
    const entry *slots = t->slots;
    size_t mask = t->mask;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t position = -1;
        if (slots != NULL) {
            if (i + AHEAD < n) {
                PREFETCH(&slots[home(items[i + AHEAD], mask)]);
            }
            const void *address = items[i];
            for (size_t at = home(address, mask); slots[at].address != NULL;
                 at = (at + 1) & mask) {
                if (slots[at].address == address) {
                    position = slots[at].position;
                    break;
                }
            }
        }
        found[i].position = position;
    }
    /* Then the ints, each taking its number's place; then the list. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *number = PyLong_FromSsize_t(found[i].position);
        if (number == NULL) {
            cells_free(found, i);
            return NULL;
        }
        found[i].number = number;
    }
    PyObject *list = PyList_New(n);
    if (list == NULL) {
        cells_free(found, n);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) { /* no Python code runs: complete before it is seen */
        PyList_SET_ITEM(list, i, found[i].number);
    }
    PyMem_Free(found);
    return list;
}

static PyMethodDef IdIndex_methods[] = {
    {"find", (PyCFunction)(void (*)(void))IdIndex_find, METH_VARARGS | METH_KEYWORDS, find_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef IdIndex_getset[] = {
    {"duplicates", IdIndex_get_duplicates, NULL,
     "Whether some object appears twice (by identity) in the list indexed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(IdIndex_doc,
             "IdIndex(objs)\n--\n\n"
             "Where each object of a list sat when the index was built, by identity (the first\n"
             "position of an object met twice). It holds no reference to the objects, so a\n"
             "position found says only where an object *with that address* was: check it\n"
             "against the list.");

static PyType_Slot IdIndex_slots[] = {
    {Py_tp_doc, (void *)IdIndex_doc},
    {Py_tp_new, PyType_GenericNew}, /* an empty index, until __init__ builds one */
    {Py_tp_init, IdIndex_init},
    {Py_tp_dealloc, IdIndex_dealloc},
    {Py_tp_methods, IdIndex_methods},
    {Py_tp_getset, IdIndex_getset},
    {Py_sq_length, IdIndex_len},
    {0, NULL},
};

/* Not Py_TPFLAGS_BASETYPE: a subclass would only add ways for the two twins to differ. No
 * Py_TPFLAGS_HAVE_GC: an index holds no reference to any object. */
static PyType_Spec IdIndex_spec = {
    .name = "amber._kernels._compiled_identity.IdIndex",
    .basicsize = sizeof(IdIndexObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = IdIndex_slots,
};

/* ---- RowIndex: the rows of a table's objects, growing --------------------------------- */

/* The slot of ``address`` in a table with slots: where it is, or the empty slot where it
 * would go. */
static inline entry *
slot_for(const table *t, const void *address)
{
    size_t at = home(address, t->mask);
    while (t->slots[at].address != NULL && t->slots[at].address != address) {
        at = (at + 1) & t->mask;
    }
    return &t->slots[at];
}

/* The row of ``address``, or -1. */
static inline Py_ssize_t
row_in(const table *t, const void *address)
{
    if (t->slots == NULL) {
        return -1;
    }
    const entry *found = slot_for(t, address);
    return found->address != NULL ? found->position : -1;
}

/* Room for ``more`` entries, the table staying at most half full: its slots doubled (until
 * there is) and the entries placed again when there is not. */
static int
table_reserve(table *t, Py_ssize_t more)
{
    size_t cap = t->slots != NULL ? t->mask + 1 : 0;
    size_t wanted = (size_t)t->count + (size_t)more;
    if (wanted <= cap / 2) {
        return 0;
    }
    size_t grown = cap != 0 ? cap * 2 : 16;
    while (grown / 2 < wanted) {
        if (grown > (size_t)PY_SSIZE_T_MAX / (2 * sizeof(entry))) {
            PyErr_NoMemory();
            return -1;
        }
        grown *= 2;
    }
    entry *slots = PyMem_Calloc(grown, sizeof(entry));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    table bigger = {.slots = slots, .mask = grown - 1, .count = t->count, .duplicates = 0};
    for (size_t i = 0; i < cap; i++) {
        if (i + AHEAD < cap && t->slots[i + AHEAD].address != NULL) {
            PREFETCH(&slots[home(t->slots[i + AHEAD].address, bigger.mask)]);
        }
        if (t->slots[i].address != NULL) {
            *slot_for(&bigger, t->slots[i].address) = t->slots[i];
        }
    }
    PyMem_Free(t->slots);
    *t = bigger;
    return 0;
}

typedef struct {
    PyObject_HEAD
    table index;       /* the address of each object of ``objects`` indexed, and its row */
    PyObject *objects; /* a list, made by __init__ (NULL before, or once cleared by the GC) */
} RowIndexObject;

/* The index's list of objects, made if it has none (borrowed). */
static PyObject *
objects_of(RowIndexObject *self)
{
    if (self->objects == NULL) {
        self->objects = PyList_New(0);
    }
    return self->objects;
}

/* A growing buffer of rows. */
typedef struct {
    Py_ssize_t *rows;
    Py_ssize_t len;
    Py_ssize_t cap;
} row_buffer;

static int
rows_init(row_buffer *b, Py_ssize_t cap)
{
    b->len = 0;
    b->cap = cap > 8 ? cap : 8;
    b->rows = PyMem_New(Py_ssize_t, (size_t)b->cap);
    if (b->rows == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int
rows_push(row_buffer *b, Py_ssize_t row)
{
    if (b->len == b->cap) {
        Py_ssize_t cap = b->cap + b->cap / 2 + 8;
        Py_ssize_t *rows = NULL;
        if (cap > b->cap && (size_t)cap <= PY_SSIZE_T_MAX / sizeof(Py_ssize_t)) {
            rows = PyMem_Realloc(b->rows, (size_t)cap * sizeof(Py_ssize_t));
        }
        if (rows == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->rows = rows;
        b->cap = cap;
    }
    b->rows[b->len++] = row;
    return 0;
}

/* The rows as a list of ints; the buffer is freed either way. */
static PyObject *
rows_to_list(row_buffer *b)
{
    cell *made = PyMem_New(cell, (size_t)(b->len > 0 ? b->len : 1));
    if (made == NULL) {
        PyMem_Free(b->rows);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < b->len; i++) {
        PyObject *number = PyLong_FromSsize_t(b->rows[i]);
        if (number == NULL) {
            cells_free(made, i);
            PyMem_Free(b->rows);
            return NULL;
        }
        made[i].number = number;
    }
    PyMem_Free(b->rows);
    PyObject *list = PyList_New(b->len);
    if (list == NULL) {
        cells_free(made, b->len);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < b->len; i++) { /* no Python code runs: complete before it is seen */
        PyList_SET_ITEM(list, i, made[i].number);
    }
    PyMem_Free(made);
    return list;
}

static int
RowIndex_init(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, ":RowIndex", keywords)) {
        return -1;
    }
    PyObject *objects = PyList_New(0);
    if (objects == NULL) {
        return -1;
    }
    /* Empty again, with a list of its own (as the Python class, called again); the old list
     * is released last, when the index is whole. */
    RowIndexObject *index = (RowIndexObject *)self;
    table_free(&index->index);
    Py_XSETREF(index->objects, objects);
    return 0;
}

static int
RowIndex_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self)); /* an instance of a heap type holds a reference to it */
    Py_VISIT(((RowIndexObject *)self)->objects);
    return 0;
}

static int
RowIndex_clear(PyObject *self)
{
    /* The table goes with the list: without the references the list holds, its addresses
     * could be taken by other objects. */
    RowIndexObject *index = (RowIndexObject *)self;
    table_free(&index->index);
    Py_CLEAR(index->objects);
    return 0;
}

static void
RowIndex_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    RowIndex_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static Py_ssize_t
RowIndex_len(PyObject *self)
{
    return ((RowIndexObject *)self)->index.count;
}

static PyObject *
RowIndex_get_objects(PyObject *self, void *Py_UNUSED(closure))
{
    return Py_XNewRef(objects_of((RowIndexObject *)self));
}

/* Parses the one argument ``objs`` of a method, which must be a list. */
static PyObject *
objs_argument(PyObject *args, PyObject *kwargs, const char *format)
{
    static char *keywords[] = {"objs", NULL};
    PyObject *objs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, keywords, &objs) ||
        need_list(objs) < 0) {
        return NULL;
    }
    return objs;
}

PyDoc_STRVAR(add_doc, "add($self, /, objs)\n--\n\n"
                      "Give each object not yet in the index the next row (appending it to\n"
                      "``objects``); return the row of every object, in order.");

static PyObject *
RowIndex_add(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *objs = objs_argument(args, kwargs, "O:add");
    if (objs == NULL) {
        return NULL;
    }
    RowIndexObject *index = (RowIndexObject *)self;
    PyObject *objects = objects_of(index);
    if (objects == NULL) {
        return NULL;
    }
    table *t = &index->index;
    row_buffer out;
    if (rows_init(&out, PyList_GET_SIZE(objs)) < 0) {
        return NULL;
    }
    /* A first batch is mostly new objects: the table sized for all at once, not doubled again
     * and again (objects met twice leave it larger than needed, at most by their number). */
    if (t->count == 0 && table_reserve(t, PyList_GET_SIZE(objs)) < 0) {
        PyMem_Free(out.rows);
        return NULL;
    }
    /* No Python code runs in this loop: only addresses are hashed and compared, and the list
     * grows by PyList_Append alone. objs may be ``objects`` itself, growing as it is read (by
     * objects put there from outside and not indexed), so its size is read again at each step,
     * as Python's loop does. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        if (t->slots != NULL && i + AHEAD < PyList_GET_SIZE(objs)) {
            PREFETCH(&t->slots[home(PyList_GET_ITEM(objs, i + AHEAD), t->mask)]);
        }
        PyObject *obj = PyList_GET_ITEM(objs, i);
        Py_ssize_t row = row_in(t, obj);
        if (row < 0) {
            /* The room first, then the list, then the entry, which cannot fail: the index holds
             * no address whose object the list does not hold (unless the list is changed from
             * outside: the index then answers by address, as the Python twin's dict does). */
            row = PyList_GET_SIZE(objects);
            if (table_reserve(t, 1) < 0 || PyList_Append(objects, obj) < 0) {
                PyMem_Free(out.rows);
                return NULL;
            }
            entry *free_slot = slot_for(t, obj);
            free_slot->address = obj;
            free_slot->position = row;
            t->count++;
        }
        if (rows_push(&out, row) < 0) {
            PyMem_Free(out.rows);
            return NULL;
        }
    }
    return rows_to_list(&out);
}

/* The row of each object of objs, -1 where missing is -1; else KeyError(id(obj)) for the
 * first missing. */
static PyObject *
rows_or_missing(PyObject *self, PyObject *objs, int missing_raises)
{
    const table *t = &((RowIndexObject *)self)->index;
    row_buffer out;
    if (rows_init(&out, PyList_GET_SIZE(objs)) < 0) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(objs); /* no Python code runs: it stays */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t->slots != NULL && i + AHEAD < n) {
            PREFETCH(&t->slots[home(PyList_GET_ITEM(objs, i + AHEAD), t->mask)]);
        }
        PyObject *obj = PyList_GET_ITEM(objs, i);
        Py_ssize_t row = row_in(t, obj);
        if (row < 0 && missing_raises) {
            PyMem_Free(out.rows);
            PyObject *key = PyLong_FromVoidPtr(obj); /* id(obj), as a dict keyed by id raises */
            if (key != NULL) {
                PyErr_SetObject(PyExc_KeyError, key);
                Py_DECREF(key);
            }
            return NULL;
        }
        out.rows[out.len++] = row; /* room for n */
    }
    return rows_to_list(&out);
}

PyDoc_STRVAR(rows_doc, "rows($self, /, objs)\n--\n\n"
                       "The row of each object; KeyError(id(obj)) for the first not in the index.");

static PyObject *
RowIndex_rows(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *objs = objs_argument(args, kwargs, "O:rows");
    return objs == NULL ? NULL : rows_or_missing(self, objs, 1);
}

PyDoc_STRVAR(row_find_doc, "find($self, /, objs)\n--\n\n"
                           "The row of each object, -1 where it is not in the index.");

static PyObject *
RowIndex_find(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *objs = objs_argument(args, kwargs, "O:find");
    return objs == NULL ? NULL : rows_or_missing(self, objs, 0);
}

static PyMethodDef RowIndex_methods[] = {
    {"add", (PyCFunction)(void (*)(void))RowIndex_add, METH_VARARGS | METH_KEYWORDS, add_doc},
    {"rows", (PyCFunction)(void (*)(void))RowIndex_rows, METH_VARARGS | METH_KEYWORDS, rows_doc},
    {"find", (PyCFunction)(void (*)(void))RowIndex_find, METH_VARARGS | METH_KEYWORDS,
     row_find_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef RowIndex_getset[] = {
    {"objects", RowIndex_get_objects, NULL,
     "The objects indexed, each at its row (the same list each time, held by the index).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(RowIndex_doc,
             "RowIndex()\n--\n\n"
             "The rows of a table's objects, by identity: ``add`` gives each new object the next\n"
             "row, appending it to ``objects``, which holds it (so its address stays its own).");

static PyType_Slot RowIndex_slots[] = {
    {Py_tp_doc, (void *)RowIndex_doc},
    {Py_tp_new, PyType_GenericNew}, /* empty, with no list until __init__ (or a use) makes one */
    {Py_tp_init, RowIndex_init},
    {Py_tp_dealloc, RowIndex_dealloc},
    {Py_tp_traverse, RowIndex_traverse},
    {Py_tp_clear, RowIndex_clear},
    {Py_tp_methods, RowIndex_methods},
    {Py_tp_getset, RowIndex_getset},
    {Py_sq_length, RowIndex_len},
    {0, NULL},
};

/* Not Py_TPFLAGS_BASETYPE, as IdIndex. Py_TPFLAGS_HAVE_GC: it holds its objects, which may
 * hold it. */
static PyType_Spec RowIndex_spec = {
    .name = "amber._kernels._compiled_identity.RowIndex",
    .basicsize = sizeof(RowIndexObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = RowIndex_slots,
};

/* ---- the module ----------------------------------------------------------------------- */

static int
add_type(PyObject *module, PyType_Spec *spec, const char *name)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int status = PyModule_AddObjectRef(module, name, type);
    Py_DECREF(type);
    return status;
}

static int
exec_module(PyObject *module)
{
    if (add_type(module, &IdIndex_spec, "IdIndex") < 0) {
        return -1;
    }
    return add_type(module, &RowIndex_spec, "RowIndex");
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, (void *)exec_module},
#if PY_VERSION_HEX >= 0x030C0000
    /* No static state: each interpreter has its own type, and may have its own GIL. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "amber._kernels._compiled_identity",
    .m_doc = "The identity indexes, compiled: the twins of amber._kernels._identity.",
    .m_size = 0,
    .m_methods = NULL,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__compiled_identity(void)
{
    return PyModuleDef_Init(&module);
}
