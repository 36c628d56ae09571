"""Warnings that reach a person even when the service configured no logging.

A library logs and lets the application route its logs; Amber attaches only a
``NullHandler``. But a checkpoint that keeps failing, or a value read other than as it was
written, must not go unnoticed because nobody set logging up. ``loud`` logs as usual and,
when no handler anywhere would show the record, hands it to ``logging.lastResort`` (stderr),
as Python does for a library with no handler at all. An application that lowered Amber's
level, or replaced ``lastResort``, has decided, and is obeyed.
"""

from __future__ import annotations

import logging
from typing import Any


def loud(logger: logging.Logger, level: int, message: str, *args: Any) -> None:
    logger.log(level, message, *args)
    last = logging.lastResort
    if last is None or not logger.isEnabledFor(level) or _shown(logger, level):
        return
    last.handle(logger.makeRecord(logger.name, level, "(amber)", 0, message, args, None))


def _shown(logger: logging.Logger, level: int) -> bool:
    """Whether the application set up any handler (not a ``NullHandler``) on the way up:
    then it decides what is shown, at whatever level it chose."""
    node: logging.Logger | None = logger
    while node is not None:
        if any(not isinstance(h, logging.NullHandler) for h in node.handlers):
            return True
        node = node.parent if node.propagate else None
    return False
