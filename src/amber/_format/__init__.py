"""Bytes and structures, as docs/format.md specifies them: manifests, segments and bounded
decompression, the tagged encoding and typed columns, signatures.

One layer of docs/architecture.md: it imports only the layers below it."""
