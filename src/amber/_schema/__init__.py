"""What users declare and Amber persists. Pure: imports nothing of Amber but its errors.

Field types (``_types``); standard-library classes stored as another type (``_wrapped``);
enums' stable names (``_enums``); schemas and fingerprints (``_fields``); records and
persisted types (``_record_type``), ``amber.OpenFile`` (``_open_file``), annotations
visible only to type checkers (``_hidden_names``); the kinds of class a persisted type may
be, among them attrs classes and pydantic models (``_class_kinds``); adapters for classes
the application does not own (``_adapters``); the registry and its
decorators (``_registry``); ``amber.Table``, the keyed table (``_keyed``); the JSON
rendering of values (``_values``).

One layer of docs/architecture.md: it imports only the layers below it."""
