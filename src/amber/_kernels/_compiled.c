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

/* ---- rows_of and add_rows ------------------------------------------------------------- */

/* rows[id(obj)] as a new reference; KeyError (the id its key, as dict raises it) when absent. */
static PyObject *
row_of(PyObject *rows, PyObject *obj)
{
    PyObject *key = PyLong_FromVoidPtr(obj);
    if (key == NULL) {
        return NULL;
    }
    PyObject *row = PyDict_GetItemWithError(rows, key);
    if (row != NULL) {
        Py_INCREF(row);
    }
    else if (!PyErr_Occurred()) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    Py_DECREF(key);
    return row;
}

PyDoc_STRVAR(rows_of_doc,
             "rows_of(rows, objs)\n--\n\n"
             "The row of each object, ``rows`` mapping ``id(object)`` to its row (KeyError: not "
             "there).");

static PyObject *
rows_of(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"rows", "objs", NULL};
    PyObject *rows, *objs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:rows_of", keywords, &rows, &objs)) {
        return NULL;
    }
    if (need_exact(rows, &PyDict_Type, "rows") < 0 || need_exact(objs, &PyList_Type, "objs") < 0) {
        return NULL;
    }
    refs out;
    if (refs_init(&out, PyList_GET_SIZE(objs)) < 0) {
        return NULL;
    }
    /* A dict whose keys compare in Python code could change objs while it is looked up in:
     * its size is read again at each step. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        PyObject *obj = PyList_GET_ITEM(objs, i);
        Py_INCREF(obj);
        PyObject *row = row_of(rows, obj);
        Py_DECREF(obj);
        if (row == NULL || refs_push(&out, row) < 0) {
            refs_clear(&out);
            return NULL;
        }
    }
    return refs_to_list(&out);
}

PyDoc_STRVAR(add_rows_doc,
             "add_rows(objects, rows, objs)\n--\n\n"
             "Give each object not yet in ``rows`` the next row (appending it to ``objects``);\n"
             "return the row of every object of ``objs``, in order.");

static PyObject *
add_rows(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"objects", "rows", "objs", NULL};
    PyObject *objects, *rows, *objs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:add_rows", keywords, &objects, &rows,
                                     &objs)) {
        return NULL;
    }
    if (need_exact(objects, &PyList_Type, "objects") < 0 ||
        need_exact(rows, &PyDict_Type, "rows") < 0 || need_exact(objs, &PyList_Type, "objs") < 0) {
        return NULL;
    }
    refs out;
    if (refs_init(&out, PyList_GET_SIZE(objs)) < 0) {
        return NULL;
    }
    /* One pass where the Python twin makes two (add the new, then look every object up): the
     * row added for an object is the one a later look-up finds. objs may be objects itself,
     * growing as it is read, so its size is read again at each step as Python's loop does. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        PyObject *obj = PyList_GET_ITEM(objs, i);
        Py_INCREF(obj);
        PyObject *row = NULL;
        PyObject *key = PyLong_FromVoidPtr(obj);
        if (key != NULL) {
            row = PyDict_GetItemWithError(rows, key);
            if (row != NULL) {
                Py_INCREF(row);
            }
            else if (!PyErr_Occurred()) {
                row = PyLong_FromSsize_t(PyList_GET_SIZE(objects));
                if (row != NULL &&
                    (PyDict_SetItem(rows, key, row) < 0 || PyList_Append(objects, obj) < 0)) {
                    Py_CLEAR(row);
                }
            }
            Py_DECREF(key);
        }
        Py_DECREF(obj);
        if (row == NULL || refs_push(&out, row) < 0) {
            refs_clear(&out);
            return NULL;
        }
    }
    return refs_to_list(&out);
}

/* ---- gather --------------------------------------------------------------------------- */

/* One attribute of every object of objs, as a new list. */
static PyObject *
column_of(PyObject *objs, PyObject *name)
{
    refs column;
    if (refs_init(&column, PyList_GET_SIZE(objs)) < 0) {
        return NULL;
    }
    /* The attribute may be a property, running code that changes objs. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        PyObject *obj = PyList_GET_ITEM(objs, i);
        Py_INCREF(obj);
        PyObject *value = PyObject_GetAttr(obj, name);
        Py_DECREF(obj);
        if (value == NULL || refs_push(&column, value) < 0) {
            refs_clear(&column);
            return NULL;
        }
    }
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
        Py_ssize_t k = 0;
        while (k < PyTuple_GET_SIZE(kinds) && PyTuple_GET_ITEM(kinds, k) != (PyObject *)type) {
            k++;
        }
        if (k == PyTuple_GET_SIZE(kinds)) {
            return 0;
        }
        last = type;
    }
    return 1;
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
    /* Column by column, as the Python twin goes: the same attribute access fails first. The
     * tuples are immutable and the caller holds them, so their items stay alive. */
    refs columns;
    if (refs_init(&columns, width) < 0) {
        return NULL;
    }
    for (Py_ssize_t j = 0; j < width; j++) {
        PyObject *column = column_of(objs, PyTuple_GET_ITEM(names, j));
        if (column == NULL || refs_push(&columns, column) < 0) {
            refs_clear(&columns);
            return NULL;
        }
    }
    PyObject *checked = PyList_New(width);
    if (checked == NULL) {
        refs_clear(&columns);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < width; j++) {
        PyObject *kinds = PyTuple_GET_ITEM(allowed, j);
        int ok = kinds != Py_None && all_of_kinds(columns.items[j], kinds);
        PyList_SET_ITEM(checked, j, Py_NewRef(ok ? Py_True : Py_False));
    }
    PyObject *result = NULL;
    PyObject *column_list = refs_to_list(&columns);
    if (column_list != NULL) {
        result = PyTuple_Pack(2, column_list, checked);
        Py_DECREF(column_list);
    }
    Py_DECREF(checked);
    return result;
}

/* ---- the module ----------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"distinct", (PyCFunction)(void (*)(void))distinct, METH_VARARGS | METH_KEYWORDS, distinct_doc},
    {"rows_of", (PyCFunction)(void (*)(void))rows_of, METH_VARARGS | METH_KEYWORDS, rows_of_doc},
    {"add_rows", (PyCFunction)(void (*)(void))add_rows, METH_VARARGS | METH_KEYWORDS, add_rows_doc},
    {"gather", (PyCFunction)(void (*)(void))gather, METH_VARARGS | METH_KEYWORDS, gather_doc},
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
