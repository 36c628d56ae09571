"""Operations on a whole store, the CLI's write verbs and its reports.

Retention and gc (``_retention``); offline migration and rollback (``_migrate``) and the
log of their runs (``_migration_log``); ``amber copy`` (``_copy``); ``amber diff``
(``_diff``); the data of ``amber report`` (``_report``).

One layer of docs/architecture.md: it imports only the layers below it."""
