"""The pickle module the PyTorch flavor gives ``torch.save`` and ``torch.load``: cloudpickle to
write (classes defined in a notebook are saved by value) and the standard unpickler to read
(``torch.load`` needs ``Unpickler``, which cloudpickle does not provide)."""

from __future__ import annotations

from pickle import Unpickler, load, loads

from cloudpickle import Pickler, dump, dumps  # type: ignore[import-untyped]

__all__ = ["Pickler", "Unpickler", "dump", "dumps", "load", "loads"]
