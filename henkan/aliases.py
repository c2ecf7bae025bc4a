"""The reference library's deeper module paths, as lazy aliases of henkan's modules.

Code written for the reference imports from `transformers.models.bert.modeling_bert`,
`transformers.modeling_outputs`, `transformers.utils.logging` and the like. After the one-word swap those paths
resolve here: an import finder maps each one to the henkan module that holds the same names, and imports that
module only when the path itself is imported (`import henkan` stays cheap). An alias *is* the real module
(`henkan.models.bert.modeling_bert is henkan.models.bert`), so classes and functions are the same objects.

Family paths come from `henkan.auto.FAMILIES`: `henkan.models.<model_type>` (dashes as underscores) and its
`configuration_*` / `modeling_*` names are the family's module, its `tokenization_*` names `henkan.tokenization`.
A henkan module that stands as such a path's parent (a family module, `henkan.utils`, `henkan.auto`) is given an
empty `__path__` when it is loaded, which is what makes Python look its submodule names up at all.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys

# path -> the henkan module with its names
MODULES = {
    "henkan.modeling_outputs": "henkan.outputs",
    "henkan.modeling_utils": "henkan.modeling",
    "henkan.configuration_utils": "henkan.config",
    "henkan.tokenization_utils_base": "henkan.tokenization",
    "henkan.tokenization_utils": "henkan.tokenization",
    "henkan.tokenization_utils_fast": "henkan.tokenization",
    "henkan.optimization": "henkan.training",
    "henkan.trainer_utils": "henkan.training",
    "henkan.trainer": "henkan.training",
    "henkan.trainer_callback": "henkan.training",
    "henkan.training_args": "henkan.training",
    "henkan.utils.logging": "henkan.logging",
    "henkan.models.auto": "henkan.auto",
    "henkan.time_series_utils": "henkan.time_series",
}
# real modules that are the parent of alias paths
_PARENTS = ("henkan.utils", "henkan.auto")
_FAMILY = re.compile(r"henkan\.models\.(\w+)$")
_PART = re.compile(r"(henkan\.models\.\w+)\.(configuration|modeling|tokenization)_\w+$")


def _family_module(name: str) -> str | None:
    from .auto import FAMILIES

    for model_type, (module, *_) in FAMILIES.items():
        if model_type.replace("-", "_") == name:
            return f"henkan.models.{module}"
    return None


class _Alias(importlib.abc.Loader):
    """Loads a path as the module `target` (the import leaves that module under the path in sys.modules)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _AsParent(importlib.abc.Loader):
    """A real module's own loader, plus an empty `__path__` once it has run (see the module docstring)."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):  # get_source, get_filename, ...: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        module.__path__ = []


class AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("henkan."):
            return None
        family = _FAMILY.match(fullname)
        if fullname in _PARENTS or (family and fullname not in MODULES):
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None:
                spec.loader = _AsParent(spec.loader)
                return spec
        module = MODULES.get(fullname)
        if module is None and family:
            module = _family_module(family.group(1))
        part = _PART.match(fullname)
        if module is None and part and part.group(1) in sys.modules:
            module = "henkan.tokenization" if part.group(2) == "tokenization" else sys.modules[part.group(1)].__name__
        if module is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(module))


def install() -> None:
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
