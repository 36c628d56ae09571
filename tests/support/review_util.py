from typing import Any

import amber


def saved_and_loaded(state: Any, registry: amber.Registry) -> Any:
    store = amber.open_store("memory://", registry=registry)
    store.save(state)
    return store.load()


def one_field(annotation: Any, name: str = "k.C", version: int = 1) -> tuple[amber.Registry, type]:
    reg = amber.Registry()
    cls = reg.record(name, version=version)(type("C", (amber.Record,), {"__annotations__": {"v": annotation}}))
    return reg, cls
