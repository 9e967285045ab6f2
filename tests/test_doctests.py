"""The examples in the package's docstrings run and print what they say (doctest)."""

import doctest
import importlib
import pkgutil

import exchange_sim

MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(exchange_sim.__path__, "exchange_sim.")
    if m.name != "exchange_sim.__main__"
)


def test_docstring_examples() -> None:
    attempted = failed = 0
    for name in MODULES:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        attempted += result.attempted
        failed += result.failed
    assert failed == 0
    assert attempted >= 10, f"only {attempted} docstring examples found: did the collection break?"
