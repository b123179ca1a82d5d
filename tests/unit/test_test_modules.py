"""Test modules have unique basenames: pytest's default import mode (rootdir-relative, no
packages) cannot collect two ``test_x.py`` in different folders, and fails the whole run."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_every_test_module_name_is_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)
    clashes = sorted(name for name, n in names.items() if n > 1)
    assert not clashes, (
        f"test modules with the same name in different folders: {clashes}; rename one "
        "(browser tests are named test_lab_*.py)"
    )
