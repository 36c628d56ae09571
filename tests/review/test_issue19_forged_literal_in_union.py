"""Issue 19 hostile review: A forged value outside a Literal loads silently when the Literal is a union member
(Optional[Literal[...]], Literal[..., None], list[Literal | None]): _column_type decodes union
members 'plain' (str/int) and nothing checks the values afterwards. Outside a union it is
refused ('Invalid enum value')."""

from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

import amber
from tests.support.helpers import forge
from tests.support.review_util import one_field


@pytest.mark.parametrize(
    ("annotation", "good", "stored"),
    [
        (Literal["open", "closed"] | None, "open", "rm -rf"),
        (Literal[1, 2, None], 1, 99),
        (list[Literal["a", "b"] | None], ["a"], ["zzz"]),
    ],
)
def test_a_forged_value_outside_its_literal_is_a_typed_error(
    tmp_path: Path, annotation: Any, good: Any, stored: Any
) -> None:
    reg, cls = one_field(annotation, "r5.C")
    store = amber.open_store(tmp_path, registry=reg)
    store.save([cls(good)])
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode([[stored]])))
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()  # observed: loads the value outside the Literal
