"""Checks shared by the distributions' package tests."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType


def assert_names_declared_alike(package: ModuleType) -> None:
    """A package whose names load on first use (``invoicebus_contracts.lazy``) lists each
    public name three times: imported for type checkers, in its ``_EXPORTS`` table, in
    ``__all__``. They must agree, and every name must load."""
    assert package.__file__ is not None
    tree = ast.parse(Path(package.__file__).read_text())
    checked = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for imp in node.body
        if isinstance(imp, ast.ImportFrom)
        for alias in imp.names
    }
    lazy = {name for names in package._EXPORTS.values() for name in names}
    assert checked == lazy == set(package.__all__)
    for name in package.__all__:
        assert getattr(package, name) is not None
