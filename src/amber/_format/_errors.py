"""The format layer's two internal signals: a value the writer cannot store, stored data
that breaks the format. Both are caught and translated into ``amber.errors`` at the store
(and graph) boundary, so they never reach users; they live apart from the encodings because
every encoding raises them.
"""

from __future__ import annotations


class BadValue(Exception):
    """A value the writer cannot store; ``path`` is filled in innermost first as it unwinds."""

    def __init__(self, message: str, path: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path or []

    def where(self, root: str) -> str:
        return root + "".join(reversed(self.path))


class Corrupt(Exception):
    """Stored data does not have the structure the format prescribes (internal)."""

    def __init__(self, expected: str, found: str = "", part: str = "references") -> None:
        super().__init__(expected)
        self.expected = expected
        self.found = found
        self.part = part  # where in the checkpoint, for the error users see
