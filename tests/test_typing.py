"""The public API's type hints reach users: a py.typed marker shipped in the package, the lazy
names of ``bgsub`` visible to type checkers, and annotated signatures."""

import ast
import inspect
import sys
from pathlib import Path

import pytest

import bgsub

ROOT = Path(__file__).resolve().parent.parent
# MixtureSubtractor's methods are annotated, but its __init__ and two new methods were being
# changed by another task when this test was written: add it here once they have hints.
NOT_YET = {"MixtureSubtractor"}


def test_py_typed_is_package_data():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib

    assert (ROOT / "bgsub" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["bgsub"]


def test_type_checkers_see_every_lazy_name():
    # bgsub resolves its public names lazily (module __getattr__), which type checkers cannot
    # follow: the TYPE_CHECKING block must import each one from the module _LAZY names
    tree = ast.parse((ROOT / "bgsub" / "__init__.py").read_text(encoding="utf-8"))
    seen = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"):
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1
                for alias in imp.names:
                    seen[alias.asname or alias.name] = f"bgsub.{imp.module}"
    assert seen == bgsub._LAZY


def _unannotated(func, where):
    sig = inspect.signature(func)
    missing = [f"{where}({name})" for name, p in sig.parameters.items()
               if name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append(f"{where} -> ?")
    return missing


def test_public_api_is_annotated():
    missing = []
    for name in bgsub.__all__:
        if name.startswith("__") or name in NOT_YET:
            continue
        obj = getattr(bgsub, name)
        if inspect.isfunction(obj):
            missing += _unannotated(obj, name)
        elif inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member):
                    missing += _unannotated(member, f"{name}.{attr}")
    assert not missing, "unannotated: " + ", ".join(missing)
