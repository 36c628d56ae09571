"""``amber.Manager``: the checkpoint lifecycle over a service's participants.

The lifecycle and its options (``_manager``, ``_options``); one attempt coordinated,
prepare -> capture -> validate -> resume -> commit or abort (``_coordinate``); the capture
modes it delegates to, inline (``_modes``) and forked, with the child committing or
staging into a spool (``_fork_modes``, ``_spool``), over the fork mechanics and the child's
typed messages (``_fork``); which checkpoint a delta builds on and the meta it carries
(``_policy``); holding the store, its writer lock or lease (``_tenure``); participants'
order and bounded calls (``_participants``); verified restore with quarantine and fallback
(``_restore``); table checks for records changed without ``touch()`` (``_verify``);
health (``_health``) and ``amber.LoopFence`` (``_loop``).

One layer of docs/architecture.md: it imports only the layers below it."""
