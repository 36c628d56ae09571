"""The object graph: a state into per-type record tables and a root, and back.

The writer (``_writer``: ``StateWriter``) fills one ``RecordTable`` per type
(``_record_table``); a delta's selection, links and adoptions (``_delta``); the reader
(``_reader``: ``StateReader``).

One layer of docs/architecture.md: it imports only the layers below it."""
