"""Operations on a whole store: retention and gc, offline migration and rollback with their
log, copy, diff, the data of amber report.

One layer of docs/architecture.md: it imports only the layers below it."""
