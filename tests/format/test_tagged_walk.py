"""The one walk over the tagged encoding's references, pure: literal nodes, no store.

``walk_refs`` decides what counts as a node for every reader and writer that looks for
references (docs/format.md, the tagged encoding): the writer renumbering link rows, the
reader ordering the build of frozen records. These rows pin it, table nodes above all:
their keys, values and tombstones are nodes, their token is not, and a caller walking
record fields (where no table may sit) can leave them out.
"""

from __future__ import annotations

from typing import Any

import pytest

from amber._format._errors import Corrupt
from amber._format._tagged import (
    DICT,
    LIST,
    REF,
    REFRANGE,
    REFS,
    SCALARS,
    SET,
    TABLE,
    TABLEDELTA,
    TUPLE,
    renumbered,
    walk_refs,
)


def refs(nodes: list[Any], **options: Any) -> list[list[Any]]:
    return list(walk_refs(nodes, **options))


def test_references_are_found_through_lists_and_containers_last_first() -> None:
    root = [LIST, [[REF, 0, 1], [TUPLE, [REFS, 1, [2, 3]]], [DICT, [SCALARS, ["a"]], [REFRANGE, 2, 0, 4]]]]

    # Depth first, the last node first: the order the reader builds frozen records in.
    assert refs([root]) == [[REFRANGE, 2, 0, 4], [REFS, 1, [2, 3]], [REF, 0, 1]]


def test_scalar_lists_and_row_lists_are_data_even_when_they_look_like_nodes() -> None:
    looks_like_a_ref = [REF, 0, 0]

    assert refs([[SCALARS, [looks_like_a_ref]]]) == []
    assert refs([[REFS, 0, [REF, 0, 0]]]) == [[REFS, 0, [REF, 0, 0]]]  # its rows are not walked


def test_a_whole_table_s_values_and_a_delta_s_values_are_walked_not_its_token() -> None:
    whole = [TABLE, REF, [SCALARS, ["k"]], [REFS, 0, [5]]]  # a token equal to a tag is still a token
    delta = [TABLEDELTA, 7, [SCALARS, ["k"]], [LIST, [[REF, 1, 2]]], [SCALARS, ["gone"]]]

    assert refs([whole]) == [[REFS, 0, [5]]]
    assert refs([delta]) == [[REF, 1, 2]]


def test_walking_record_fields_leaves_table_nodes_out() -> None:
    table = [TABLE, 7, [SCALARS, ["k"]], [REFS, 0, [5]]]

    assert refs([[LIST, [table, [REF, 0, 1]]]], tables=False) == [[REF, 0, 1]]


def test_malformed_nodes_are_skipped_for_the_decoder_to_refuse() -> None:
    assert refs([[], [REF], [True, [REF, 0, 1]], [2.0, 0, [1]], "text", [LIST, "not a list"]]) == []


def test_a_walk_past_its_limit_is_corrupt() -> None:
    wide = [LIST, [[SET, [SCALARS, []]]] * 10]

    assert refs([wide], limit=21) == []
    with pytest.raises(Corrupt):
        refs([wide], limit=20)


def test_renumbering_reaches_inside_tables_and_merges_contiguous_rows_into_ranges() -> None:
    root = [LIST, [[TABLE, 9, [SCALARS, ["a", "b"]], [REFS, 0, [0, 2]]], [REF, 0, 1], [REFRANGE, 1, 0, 2]]]
    moves = {0: [2, 0, 1]}  # type 0: old row 0 is now 2, 1 is 0, 2 is 1

    assert renumbered(root, moves) == [
        LIST,
        [[TABLE, 9, [SCALARS, ["a", "b"]], [REFS, 0, [2, 1]]], [REF, 0, 0], [REFRANGE, 1, 0, 2]],
    ]
    assert renumbered([REFS, 0, [1, 2]], moves) == [REFRANGE, 0, 0, 2]
