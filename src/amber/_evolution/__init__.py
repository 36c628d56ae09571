"""Schema evolution: how data written by one version of the code is read by another.

From the bottom up: the judgement of one field type against another (``_judge``), the
conversion of the values it accepts (``_convert``) and the checks on what upgrade steps hand
back (``_step_guards``); the plan values (``_plan``), made by the planner (``_planner``) from
the rules (``_rules``) and checkpoint steps (``_stages``), with each problem's fix
(``_problems``); following a plan over decoded columns (``_apply``); write pins (``_pin``);
the lock file and ``amber schema check`` (``_lockfile``). Everything but ``_lockfile``'s
read and write is pure.

One layer of docs/architecture.md: it imports only the layers below it."""
