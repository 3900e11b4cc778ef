"""Names of a package loaded on first use (PEP 562), so importing the package costs nothing
until a name is used: ``invoicebus_contracts`` (pydantic stays unloaded for the topology's
names) and ``invoicebus_client`` (aio-pika stays unloaded for its defaults) both use it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_names(
    namespace: MutableMapping[str, Any], exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: each name of ``exports`` (submodule ->
    names) is imported from its submodule when first asked for, then kept in ``namespace``
    (the package's ``globals()``), an ordinary attribute from then on."""
    package = namespace["__name__"]
    modules = {name: module for module, names in exports.items() for name in names}

    def getattr_(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *modules])

    return getattr_, dir_
