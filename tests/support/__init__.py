"""Not tests: the helpers, servers and small applications the tests import or run as processes
(``python -m tests.support.X``, ``--app tests.support.X:registry``)."""
