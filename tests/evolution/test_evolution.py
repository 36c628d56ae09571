"""Reading old data with new code: the rules, upgrade chains, and plans that cannot work."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Annotated, Any

import pytest

import amber
from amber import commands
from tests.support.helpers import OpenStore, tree_digest
from tests.support.matrix_app import AccountV1, CustomerV1, v1

# --- version 1 of a small bank, as an old release declared it (shared with the matrix) ------


def write_v1(where: Path | OpenStore) -> dict[str, Any]:
    """Save version 1's state in a folder, or in the in-memory store ``where`` opens."""
    ada, bob = CustomerV1(1, "Ada"), CustomerV1(2, "Bob")
    state = {"customers": [ada, bob], "accounts": [AccountV1(i, [ada, bob][i % 2], i * 1.5, f"n{i}") for i in range(5)]}
    store = amber.open_store(where, registry=v1) if isinstance(where, Path) else where(registry=v1)
    store.save(state)
    return state


# --- rules: no code needed -----------------------------------------------------------------


@amber.enum("e.Tier")
class Tier(enum.Enum):
    BASIC = "basic"
    GOLD = "gold"


def test_added_removed_and_renamed_fields_need_no_code(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    v2 = amber.Registry()

    @v2.record("bank.Customer", version=2)
    class Customer(amber.Record):
        id: int
        full_name: Annotated[str, amber.field(aliases=["name"])]  # renamed
        tags: list[str] = []  # added, with a default

    @v2.record("bank.Account", version=2)
    class Account(amber.Record):  # "note" removed
        id: int
        owner: Customer
        balance: float | None  # widened to an Optional

    state = memory_store(registry=v2).load()
    assert state["customers"] == [Customer(1, "Ada"), Customer(2, "Bob")]
    assert state["customers"][0].tags is not state["customers"][1].tags, "mutable defaults are fresh"
    assert state["accounts"][3] == Account(3, state["customers"][1], 4.5)
    assert state["accounts"][3].owner is state["customers"][1], "references survive the migration"


def test_a_renamed_type_is_found_by_its_former_name(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    v2 = amber.Registry()

    @v2.record("crm.Client", version=2, aliases=["bank.Customer"])
    class Client(amber.Record):
        id: int
        name: str

    @v2.record("bank.Account", version=1)
    class Account(amber.Record):
        id: int
        owner: Client
        balance: float
        note: str = ""

    state = memory_store(registry=v2).load()
    assert state["accounts"][0].owner == Client(1, "Ada")
    assert type(state["customers"][0]) is Client


def test_safe_widenings(memory_store: OpenStore) -> None:
    old = amber.Registry()

    @old.record("w.T", version=1)
    class T1(amber.Record):
        count: int
        tier: str
        scores: list[int]
        maybe: int

    memory_store(registry=old).save([T1(3, "x", [1, 2], 7)])
    new = amber.Registry()

    @new.record("w.T", version=2)
    class T2(amber.Record):
        count: float
        tier: str | int
        scores: list[float]
        maybe: int | str | None

    [loaded] = memory_store(registry=new).load()
    assert loaded == T2(3.0, "x", [1.0, 2.0], 7)
    assert type(loaded.count) is float and type(loaded.scores[0]) is float


@amber.enum("e.Tier")  # the same enum as Tier, as an older release declared it
class OldTier(enum.Enum):
    BASIC = "basic"


def test_an_enum_that_gained_members(memory_store: OpenStore) -> None:
    old = amber.Registry()

    @old.record("e.T", version=1)
    class T1(amber.Record):
        tier: OldTier

    memory_store(registry=old).save([T1(OldTier.BASIC)])
    new = amber.Registry()

    @new.record("e.T", version=2)
    class T2(amber.Record):
        tier: Tier

    assert memory_store(registry=new).load() == [T2(Tier.BASIC)]


def test_old_code_reads_newer_data_that_differs_only_by_the_rules(memory_store: OpenStore) -> None:
    newer = amber.Registry()

    @newer.record("bank.Customer", version=2)
    class Customer2(amber.Record):
        id: int
        name: str
        email: str = ""

    memory_store(registry=newer).save([Customer2(1, "Ada", "ada@example.com")])
    assert memory_store(registry=v1).load() == [CustomerV1(1, "Ada")]


def test_old_code_says_when_it_reads_newer_data_and_can_refuse_to(
    memory_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    newer = amber.Registry()

    @newer.record("bank.Customer", version=2)
    class Customer2(amber.Record):
        id: int
        name: str
        email: str = ""  # an old reader drops it, and a save by the old code would lose it

    memory_store(registry=newer).save([Customer2(1, "Ada", "ada@example.com")])
    with caplog.at_level("WARNING", logger="amber.schema"):
        assert memory_store(registry=v1).load() == [CustomerV1(1, "Ada")]
    assert "bank.Customer v2 is newer than this code's v1" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="amber.schema"):
        reader = memory_store(registry=v1)
        reader.load()
        reader.load()
    assert caplog.text.count("is newer than") == 1  # once per store, not once per load or delta
    older = amber.Registry()  # a renamed type that restarted its versions is not "newer"

    @older.record("crm.Person", version=1, aliases=["bank.Customer"])
    class Person(amber.Record):
        id: int
        name: str

    assert memory_store(registry=older, read_newer=False).load() == [Person(1, "Ada")]
    strict = memory_store(registry=v1, read_newer=False)
    with pytest.raises(amber.IncompatibleSchemaError, match=r"v2 is newer than v1.*\(read_newer=False\)") as e:
        strict.load()
    assert "write_versions" in e.value.problems[0].fix


# --- upgrade chains -------------------------------------------------------------------------


def chain_registry(calls: list[str]) -> amber.Registry:
    reg = amber.Registry()

    @reg.record("bank.Customer", version=1)
    class Customer(amber.Record):
        id: int
        name: str

    @reg.record("bank.Account", version=3)
    class Account(amber.Record):
        id: int
        owner: Customer
        balance_cents: int
        label: str

    @reg.upgrade("bank.Account", 1)
    def add_label(fields: dict[str, Any]) -> dict[str, Any]:
        calls.append("1->2")
        fields["label"] = fields.pop("note").upper()
        return fields

    @reg.upgrade("bank.Account", 2)
    def to_cents(fields: dict[str, Any]) -> dict[str, Any]:
        calls.append("2->3")
        assert isinstance(fields["owner"], amber.Ref), "records appear as references inside steps"
        fields["balance_cents"] = round(fields.pop("balance") * 100)
        return fields

    return reg


def test_steps_chain_from_the_written_version_to_the_current_one(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    calls: list[str] = []
    state = memory_store(registry=chain_registry(calls)).load()
    assert calls == ["1->2"] * 5 + ["2->3"] * 5
    account = state["accounts"][3]
    assert (account.balance_cents, account.label) == (450, "N3")
    assert account.owner is state["customers"][1]


def test_the_plan_says_what_will_run(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    plan = memory_store(registry=chain_registry([])).plan()
    assert [t.describe() for t in plan.types] == [
        "bank.Customer v1: as written",
        "bank.Account v1 -> bank.Account v3: step 1->2, step 2->3",
    ]


def test_loading_with_a_migration_writes_nothing(tmp_path: Path) -> None:
    write_v1(tmp_path)
    before = tree_digest(tmp_path)
    amber.open_store(tmp_path, registry=chain_registry([])).load()
    assert tree_digest(tmp_path) == before


# --- impossible plans and failing steps -----------------------------------------------------


def test_an_impossible_plan_lists_every_problem_with_a_fix(tmp_path: Path) -> None:
    write_v1(tmp_path)
    new = amber.Registry()

    @new.record("bank.Account", version=2)
    class Account(amber.Record):
        id: str  # changed type, no step
        owner: int  # a record became an int
        balance: float
        opened: float  # new, required, no default

    before = tree_digest(tmp_path)
    with pytest.raises(amber.IncompatibleSchemaError) as caught:
        amber.open_store(tmp_path, registry=new).load()
    problems = {(p.type, p.problem.split(": ", 1)[-1]): p.fix for p in caught.value.problems}
    assert problems == {
        ("bank.Customer", "v1 is not declared by the running code"): (
            "declare it with @amber.record('bank.Customer', version=...), or list 'bank.Customer' "
            "in the aliases of its new name"
        ),
        ("bank.Account", "field 'id' changed from int to str"): "add @amber.upgrade('bank.Account', 1)",
        ("bank.Account", "field 'owner' changed from @bank.Customer to int"): "add @amber.upgrade('bank.Account', 1)",
        ("bank.Account", "new required field 'opened'"): "give it a default, or add @amber.upgrade('bank.Account', 1)",
    }
    assert tree_digest(tmp_path) == before


def test_a_schema_changed_without_a_version_bump(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    new = amber.Registry()

    @new.record("bank.Customer", version=1)
    class Customer(amber.Record):
        id: int
        name: str
        extra: int = 0

    with pytest.raises(amber.IncompatibleSchemaError, match="give the changed type version 2"):
        memory_store(registry=new).load()


def test_newer_data_the_rules_cannot_resolve_asks_for_an_upgrade(memory_store: OpenStore) -> None:
    newer = amber.Registry()

    @newer.record("bank.Customer", version=2)
    class Customer2(amber.Record):
        id: str
        name: str

    memory_store(registry=newer).save([Customer2("a", "Ada")])
    with pytest.raises(amber.IncompatibleSchemaError, match="v2 -> v1: field 'id' changed.*older than the checkpoint"):
        memory_store(registry=v1).load()


def failing_registry(step: Any) -> amber.Registry:
    reg = amber.Registry()

    @reg.record("bank.Customer", version=1)
    class Customer(amber.Record):
        id: int
        name: str

    @reg.record("bank.Account", version=2)
    class Account(amber.Record):
        id: int
        owner: Customer
        cents: int

    reg.upgrade("bank.Account", 1)(step)
    return reg


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (lambda f: 1 / 0, r"bank.Account upgrade step 1->2, row 0: expected the step .* ZeroDivisionError"),
        (lambda f: None, r"step 1->2, row 0: expected a dict of fields, found NoneType"),
        (lambda f: {"id": f["id"], "owner": f["owner"]}, r"bank.Account v2, row 0: expected a value for field 'cents'"),
        (lambda f: {**f, "cents": "lots"}, r"bank.Account v2 field 'cents': expected int"),
        (lambda f: {**f, "cents": 1, "owner": amber.Ref("bank.Customer", 99)}, r"field 'owner'.*bank.Customer/99"),
    ],
    ids=["raises", "not-a-dict", "missing-field", "wrong-type", "dangling-reference"],
)
def test_a_failing_step_is_reported_with_its_place_and_changes_nothing(tmp_path: Path, step: Any, message: str) -> None:
    write_v1(tmp_path)
    before = tree_digest(tmp_path)
    with pytest.raises(amber.MigrationError, match=message):
        amber.open_store(tmp_path, registry=failing_registry(step)).load()
    assert tree_digest(tmp_path) == before


def test_aliases_are_checked_when_declared() -> None:
    reg = amber.Registry()
    reg.record("a.New", version=1, aliases=["a.Old"])(type("X", (amber.Record,), {"__annotations__": {"n": int}}))
    with pytest.raises(amber.SchemaError, match="already belongs to another type"):
        reg.record("b.Other", version=1, aliases=["a.Old"])(type("Y", (amber.Record,), {"__annotations__": {"n": int}}))
    with pytest.raises(amber.SchemaError, match="not a valid former name"):
        reg.record("c.C", version=1, aliases=["not valid"])(type("Z", (amber.Record,), {"__annotations__": {"n": int}}))
    reg.upgrade("a.New", 1)(lambda f: f)
    with pytest.raises(amber.SchemaError, match="already declared"):
        reg.upgrade("a.New", 1)(lambda f: f)


# --- writing an older version during a rolling upgrade ---------------------------------------


def rolling_registry() -> amber.Registry:
    """Code at v3 that still declares v1 (to write it) and a downgrade twin for each step."""
    reg = amber.Registry()

    @reg.record("bank.Customer", version=1)
    class Customer(amber.Record):
        id: int
        name: str

    @reg.record("bank.Account", version=1)
    class AccountOld(amber.Record):
        id: int
        owner: Customer
        balance: float
        note: str = ""

    @reg.record("bank.Account", version=3)
    class Account(amber.Record):
        id: int
        owner: Customer
        balance_cents: int
        memo: Annotated[str, amber.field(aliases=["note"])] = ""

    @reg.upgrade("bank.Account", 1)
    def up(fields: dict[str, Any]) -> dict[str, Any]:
        fields["balance_cents"] = round(fields.pop("balance") * 100)
        return fields

    @reg.downgrade("bank.Account", 3)
    def down(fields: dict[str, Any]) -> dict[str, Any]:
        fields["balance"] = fields.pop("balance_cents") / 100
        return fields

    return reg


def test_a_write_pin_writes_the_older_version_for_old_readers(memory_store: OpenStore) -> None:
    reg = rolling_registry()
    current = reg.current("bank.Account")
    customer = reg.current("bank.Customer")
    assert current is not None and customer is not None
    ada = customer.cls(1, "Ada")
    state = {"accounts": [current.cls(1, ada, 250, "hello")], "customers": [ada]}
    store = memory_store(registry=reg, write_versions={"bank.Account": 1})
    info = store.save(state)
    assert info.types["bank.Account"] == 1
    assert store.manifest().write_versions == {"bank.Account": 1}
    old = memory_store(registry=v1).load()  # the old release reads it as its own
    assert old["accounts"][0] == AccountV1(1, old["customers"][0], 2.5, "hello")
    assert store.load() == state, "the new code reads it back through the upgrade step"
    unpinned = store.save(state, write_versions={})
    assert unpinned.types["bank.Account"] == 3 and store.manifest().write_versions == {}


def test_a_pin_without_the_old_declaration_or_twin_is_refused(memory_store: OpenStore) -> None:
    reg = rolling_registry()
    current, customer = reg.current("bank.Account"), reg.current("bank.Customer")
    assert current is not None and customer is not None
    state = [current.cls(1, customer.cls(1, "Ada"), 250)]
    with pytest.raises(amber.SerializationError, match="needs its declaration"):
        memory_store(registry=reg).save(state, write_versions={"bank.Account": 2})
    with pytest.raises(amber.SerializationError, match="newer than the running v3"):
        memory_store(registry=reg).save(state, write_versions={"bank.Account": 4})
    del reg._downgrades[("bank.Account", 3)]
    with pytest.raises(amber.SerializationError, match=r"field 'balance' has no value; add @amber.downgrade"):
        memory_store(registry=reg).save(state, write_versions={"bank.Account": 1})
    assert memory_store(registry=reg).ids() == []


def three_account_versions(declare_v2: bool, calls: list[dict[str, Any]]) -> amber.Registry:
    """v2 renamed ``note`` to ``memo`` and added ``currency`` (no step); v3 keeps cents (a step)."""
    reg = amber.Registry()

    @reg.record("bank.Customer", version=1)
    class Customer(amber.Record):
        id: int
        name: str

    if declare_v2:

        @reg.record("bank.Account", version=2)
        class AccountV2(amber.Record):
            id: int
            owner: Customer
            balance: float
            memo: Annotated[str, amber.field(aliases=["note"])] = ""
            currency: str = "EUR"

    @reg.record("bank.Account", version=3)
    class Account(amber.Record):
        id: int
        owner: Customer
        cents: int
        memo: Annotated[str, amber.field(aliases=["note"])] = ""
        currency: str = "EUR"

    @reg.upgrade("bank.Account", 2)
    def to_cents(fields: dict[str, Any]) -> dict[str, Any]:
        calls.append(dict(fields))
        fields["cents"] = round(fields.pop("balance") * 100)
        return fields

    return reg


def test_a_step_sees_its_from_version_fields_when_that_version_is_declared(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    calls: list[dict[str, Any]] = []
    state = memory_store(registry=three_account_versions(True, calls)).load()
    assert set(calls[1]) == {"id", "owner", "balance", "memo", "currency"}  # v1 resolved to v2 first
    assert (calls[1]["memo"], calls[1]["currency"]) == ("n1", "EUR")
    assert (state["accounts"][1].cents, state["accounts"][1].memo) == (150, "n1")


def test_a_step_gets_the_stored_fields_when_its_from_version_is_not_declared(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    calls: list[dict[str, Any]] = []
    state = memory_store(registry=three_account_versions(False, calls)).load()
    assert set(calls[1]) == {"id", "owner", "balance", "note"}  # as stored: nothing to resolve it to
    assert (state["accounts"][1].cents, state["accounts"][1].memo) == (150, "n1")  # the alias, at the end


def test_with_a_checkpoint_step_too_a_step_sees_its_from_version_fields(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    calls: list[dict[str, Any]] = []
    reg = amber.Registry()

    @reg.record("bank.Customer", version=2)
    class Customer(amber.Record):
        id: int
        name: str
        vip: bool = False

    @reg.record("bank.Account", version=2)
    class AccountV2(amber.Record):
        id: int
        owner: Customer
        balance: float
        memo: Annotated[str, amber.field(aliases=["note"])] = ""

    @reg.record("bank.Account", version=3)
    class Account(amber.Record):
        id: int
        owner: Customer
        cents: int
        memo: str = ""

    @reg.upgrade("bank.Account", 2)
    def to_cents(fields: dict[str, Any]) -> dict[str, Any]:
        calls.append(dict(fields))
        fields["cents"] = round(fields.pop("balance") * 100)
        return fields

    @reg.checkpoint_upgrade(requires={"bank.Customer": 1}, produces={"bank.Customer": 2})
    def mark_vips(tables: amber.Tables) -> None:
        for customer in tables["bank.Customer"]:
            customer["vip"] = customer["name"] == "Ada"

    state = memory_store(registry=reg).load()
    assert set(calls[1]) == {"id", "owner", "balance", "memo"}  # through the rules stage to v2's fields
    assert (state["accounts"][1].memo, state["accounts"][0].owner.vip) == ("n1", True)


# --- checkpoint steps: changes across types ---------------------------------------------------


def address_registry(calls: list[str]) -> amber.Registry:
    """v1 customers held their address; v2 point at a bank.Address record of its own."""
    reg = amber.Registry()

    @reg.record("bank.Address", version=1)
    class Address(amber.Record):
        street: str
        city: str

    @reg.record("bank.Customer", version=2)
    class Customer(amber.Record):
        id: int
        name: str
        address: Address | None = None

    @reg.record("bank.Account", version=2)
    class Account(amber.Record):
        id: int
        owner: Customer
        balance: float
        memo: str = ""

    @reg.upgrade("bank.Account", 1)
    def rename_note(fields: dict[str, Any]) -> dict[str, Any]:
        calls.append("account 1->2")
        fields["memo"] = fields.pop("note")
        return fields

    @reg.checkpoint_upgrade(requires={"bank.Customer": 1}, produces={"bank.Customer": 2, "bank.Address": 1})
    def split_address(tables: amber.Tables) -> None:
        calls.append("split")
        for customer in tables["bank.Customer"]:
            customer["address"] = tables.add("bank.Address", {"street": f"{customer['id']} Main St", "city": "Oslo"})

    return reg


def test_a_checkpoint_step_splits_one_type_into_two(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    calls: list[str] = []
    store = memory_store(registry=address_registry(calls))
    assert store.plan().describe() == [
        "checkpoint step address_registry.<locals>.split_address",
        "bank.Account step 1->2",
    ]
    state = store.load()
    assert calls == ["split", *["account 1->2"] * 5]
    ada = state["customers"][0]
    assert (ada.address.street, ada.address.city) == ("1 Main St", "Oslo")
    assert state["accounts"][2].owner is ada and state["accounts"][2].memo == "n2"


def test_a_migration_with_a_checkpoint_step_says_what_each_type_went_through(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    store = memory_store(registry=address_registry([]))
    result = commands.migrate(store, dry_run=True)
    assert {t["name"]: (t["from_version"], t["how"]) for t in result["types"]} == {
        "bank.Customer": (1, "checkpoint step address_registry.<locals>.split_address"),
        "bank.Account": (1, "step 1->2"),
        "bank.Address": (0, "checkpoint step address_registry.<locals>.split_address"),  # created by it
    }


def test_a_type_no_stage_touches_is_reported_as_written(memory_store: OpenStore) -> None:
    old, new = amber.Registry(), amber.Registry()

    class Note(amber.Record):
        text: str

    old.register(Note, "crm.Note", version=1)
    new.register(Note, "crm.Note", version=1)

    @old.record("crm.Person", version=1)
    class PersonV1(amber.Record):
        email: str

    @new.record("crm.Person", version=2)
    class Person(amber.Record):
        email: str
        vip: bool = False

    @new.checkpoint_upgrade(requires={"crm.Person": 1}, produces={"crm.Person": 2})
    def flag(tables: amber.Tables) -> None:
        pass

    memory_store(registry=old).save({"p": [PersonV1("a@x")], "n": [Note("hi")]})
    planned = memory_store(registry=new).plan()
    assert [tp.how for tp in planned.types] == [
        "checkpoint step test_a_type_no_stage_touches_is_reported_as_written.<locals>.flag",
        "as written",
    ]
    result = commands.migrate(memory_store(registry=new), dry_run=True)
    assert {t["name"]: t["how"] for t in result["types"]} == {
        "crm.Person": "checkpoint step test_a_type_no_stage_touches_is_reported_as_written.<locals>.flag",
        "crm.Note": "as written",
    }


def test_a_checkpoint_step_merges_a_type_away(memory_store: OpenStore) -> None:
    old = amber.Registry()

    @old.record("crm.Note", version=1)
    class Note(amber.Record):
        text: str

    @old.record("crm.Contact", version=1)
    class Contact(amber.Record):
        name: str
        note: Note

    memory_store(registry=old).save([Contact("Ada", Note("likes tea")), Contact("Bob", Note("ok"))])
    new = amber.Registry()

    @new.record("crm.Contact", version=2)
    class Contact2(amber.Record):
        name: str
        note_text: str

    @new.checkpoint_upgrade(requires={"crm.Contact": 1, "crm.Note": 1}, produces={"crm.Contact": 2, "crm.Note": None})
    def inline_notes(tables: amber.Tables) -> None:
        notes = tables["crm.Note"]
        for contact in tables["crm.Contact"]:
            contact["note_text"] = notes[contact.pop("note").row]["text"]

    assert memory_store(registry=new).load() == [Contact2("Ada", "likes tea"), Contact2("Bob", "ok")]


def test_a_failing_checkpoint_step_changes_nothing(tmp_path: Path) -> None:
    write_v1(tmp_path)
    reg = address_registry([])

    def broken(tables: amber.Tables) -> None:
        raise ZeroDivisionError("division by zero")

    reg._checkpoint_steps[0] = dataclasses.replace(reg._checkpoint_steps[0], run=broken)
    before = tree_digest(tmp_path)
    with pytest.raises(amber.MigrationError, match="checkpoint step .*ZeroDivisionError"):
        amber.open_store(tmp_path, registry=reg).load()
    assert tree_digest(tmp_path) == before


def test_a_checkpoint_step_the_data_never_reaches_is_a_plan_problem(memory_store: OpenStore) -> None:
    write_v1(memory_store)
    reg = address_registry([])

    @reg.checkpoint_upgrade(requires={"bank.Customer": 1, "bank.Account": 5}, produces={"bank.Account": 6})
    def impossible(tables: amber.Tables) -> None:
        pass

    with pytest.raises(amber.IncompatibleSchemaError, match="needs bank.Customer v1, bank.Account v5"):
        memory_store(registry=reg).load()
