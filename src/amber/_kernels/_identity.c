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

/* ---- the module ----------------------------------------------------------------------- */

static int
exec_module(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &IdIndex_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int status = PyModule_AddObjectRef(module, "IdIndex", type);
    Py_DECREF(type);
    return status;
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
    .m_doc = "The identity index, compiled: the twin of amber._kernels._identity.",
    .m_size = 0,
    .m_methods = NULL,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__compiled_identity(void)
{
    return PyModuleDef_Init(&module);
}
