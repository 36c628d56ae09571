"""Checkpoints in a storage: the store and the commit protocol.

``CheckpointStore`` (``_checkpoint``) is the public face; it hands the work to its parts:
which checkpoints exist, each manifest read and checked, fences and chains (``_manifests``);
the commit protocol, stage -> upload -> publish with its confirmations (``_commit``); a
captured state as segment bytes and a draft manifest (``_segments``); taking a state's
tables and capturing it (``_capture``); reading content back, planned and bounded
(``_loading``), one checkpoint at a time (``_reading``, with a delta's parent rows in
``_delta_reading`` and the no-app-code view in ``_generic``); quarantine notes
(``_quarantine``); one attempt's events (``_attempt``); what a store says of a checkpoint
(``_info``); the old internal methods, deprecated (``_deprecated``). Beside them: the memory
a read may take (``_memory_bound``, ``_memory_cost``), the lease and its fences (``_lease``,
``_fencing``), the local writer lock (``_writer_lock``), collections kept out of writes
(``_gc_guard``), the history journal (``_history``), the helper-thread pipeline
(``_pipeline``) and ``open_store`` (``_open``).

One layer of docs/architecture.md: it imports only the layers below it."""
