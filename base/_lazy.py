"""Package namespaces whose names import their module on first use (PEP 562).

A package __init__ that imported every module eagerly would load torch for `vcc --help`; with
this, `import vcc.scorer` is cheap and `from vcc.scorer import score_submission` loads only what it needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: dict[str, tuple[str, ...]], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose names live in the modules `exports` lists.

    `exports` maps a module (relative like "._score", or absolute) to the names it provides;
    a name is imported from its module when first looked up, then cached in `namespace`.
    """
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__
