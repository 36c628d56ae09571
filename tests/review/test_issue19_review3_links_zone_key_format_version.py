"""Issue 19 hostile review 3 (zones).

A delta whose links name an amber.Table entry by a ZoneInfo-keyed datetime writes
[9, iso, key] in a links segment, but only root/table segments carry the zones flag, so
needed_version() says 5: a format-5 manifest holding format-6 content (an older release
would call it corrupt instead of asking for a newer one)."""

import datetime as dt
import zoneinfo
from typing import Any

import msgspec

import amber
from amber._store._reading import CheckpointReader

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
reg = amber.Registry()


@reg.record("rv.L", version=1)
class L(amber.Record):
    n: int


def _zone_keys(node: Any) -> Any:
    if isinstance(node, list):
        if len(node) == 3 and node[0] == 9 and all(isinstance(x, str) for x in node[1:]):
            yield node
        for x in node:
            yield from _zone_keys(x)


def test_links_with_zone_keys_make_the_checkpoint_format_6(tmp_path: Any) -> None:
    key = dt.datetime(2024, 3, 30, 12, tzinfo=PARIS)
    t = amber.Table({key: L(1), 2: L(2)})
    store = amber.open_store(tmp_path, registry=reg)
    first = store.save({"t": t, "r": [t[key]]})
    t[2] = L(3)
    store.save({"t": t, "r": [t[key]]}, parent=first.id)
    m = store.manifest()
    reader = CheckpointReader(store.storage, m)
    keyed = [
        s.kind
        for i, s in enumerate(m.segments)
        if s.kind in ("root", "links") and list(_zone_keys(msgspec.msgpack.decode(reader.segment(i, s))))
    ]
    assert keyed == ["links"]
    assert m.format_version >= 6, f"format {m.format_version} with zone keys in {keyed}"
    assert store.load()["t"][key].n == 1
