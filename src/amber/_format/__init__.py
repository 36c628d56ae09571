"""Bytes and structures, as docs/format.md specifies them.

The container: header, manifests, segments, bounded decompression, digests (``_format``);
the tagged encoding, its grammar and one walker of its references (``_tagged``), written
(``_tagged_encoder``) and read (``_tagged_decoder``); typed columns (``_columns``); the
canonical order of unordered values (``_canonical``); signatures (``_signing``); small
JSON objects beside checkpoints and their time stamps (``_objects``); time zones the format
cannot keep, said or refused (``_zones``); the codec's internal signals (``_errors``).

One layer of docs/architecture.md: it imports only the layers below it."""
