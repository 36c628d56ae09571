"""Issue 19 hostile review: Smaller defects: a raw ValueError at save, the test kit, union
declarations that can never save, non-canonical fractions accepted from a forged file."""

from __future__ import annotations

import collections
import fractions
import pathlib
from pathlib import Path
from typing import Any

import attrs
import msgspec
import pydantic
import pytest
from hypothesis import given, settings

import amber
import amber.testing
from tests.support.helpers import forge
from tests.support.review_util import one_field, saved_and_loaded


@pytest.mark.parametrize("annotation", [fractions.Fraction, set[fractions.Fraction], dict[str, fractions.Fraction]])
def test_a_fraction_too_long_for_text_is_a_serialization_error(annotation: Any) -> None:
    reg, cls = one_field(annotation, "r10.F")
    big = fractions.Fraction(10**5000, 3)
    value = {fractions.Fraction: big, set[fractions.Fraction]: {big}, dict[str, fractions.Fraction]: {"a": big}}[
        annotation
    ]
    with pytest.raises(amber.SerializationError):  # observed: builtins.ValueError (int max str digits)
        amber.open_store("memory://", registry=reg).save([cls(value)])


kit = amber.Registry()


@kit.record("r10.Price", version=1)
class Price(pydantic.BaseModel):
    cents: int = pydantic.Field(gt=0)


@kit.record("r10.Qty", version=1)
@attrs.define
class Qty:
    n: int = attrs.field(validator=attrs.validators.ge(0))


@pytest.mark.parametrize("cls", [Price, Qty])
def test_records_strategy_draws_only_instances_the_class_accepts(cls: type) -> None:
    @settings(max_examples=30, database=None)
    @given(amber.testing.records(cls, registry=kit))
    def run(drawn: Any) -> None:
        amber.testing.assert_roundtrip([drawn], registry=kit)

    run()  # observed: amber._schema._record_type.RecordRejected (internal) raised while drawing


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (collections.deque[int] | list[int], collections.deque([1])),
        (pathlib.Path | str, pathlib.Path("x")),
        (bytes | bytearray, bytearray(b"x")),
    ],
)
def test_a_declared_union_member_is_either_refused_at_declaration_or_saveable(annotation: Any, value: Any) -> None:
    try:
        reg, cls = one_field(annotation, "r10.U")
    except amber.SchemaError:
        return
    saved_and_loaded([cls(value)], reg)  # observed: SerializationError "stored only in a typed field"


@pytest.mark.parametrize("stored", ["2/4", "1/-2", "-0/1", "3"])
def test_a_forged_fraction_not_in_lowest_terms_with_the_sign_on_the_numerator_is_refused(
    tmp_path: Path, stored: str
) -> None:
    reg, cls = one_field(fractions.Fraction, "r10.Share")
    store = amber.open_store(tmp_path, registry=reg)
    store.save([cls(fractions.Fraction(1, 3))])
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode([[stored]])))
    with pytest.raises(amber.CorruptCheckpointError):  # docs/format.md §14: lowest terms, sign on the numerator
        store.load()
