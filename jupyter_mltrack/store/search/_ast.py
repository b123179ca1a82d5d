"""The AST of the run search language: frozen dataclasses, shared by parser and compilers.

A filter parses into a tree of :data:`Node`; leaves are predicates on one :class:`Field`
(:class:`Comparison`, :class:`Like`, :class:`InList`, :class:`IsNull`), inner nodes are
:class:`And`, :class:`Or` and :class:`Not`. Order-by items parse into :class:`OrderKey`.
A tree holds only decoded values (no source text), so equal filters give equal trees, and
a second backend (e.g. PostgreSQL) can compile the same tree to its own SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "ATTRIBUTES",
    "DATASET_FIELDS",
    "NUMERIC_ATTRIBUTES",
    "And",
    "CompareOp",
    "Comparison",
    "Entity",
    "Field",
    "InList",
    "IsNull",
    "Like",
    "Node",
    "Not",
    "Or",
    "OrderKey",
]

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]
CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]

#: Run attributes a filter may name, bare or after ``attributes.``.
ATTRIBUTES = (
    "run_id",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "user_id",
    "artifact_uri",
    "experiment_id",
    "parent_run_id",
    "lifecycle_stage",
)
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
DATASET_FIELDS = ("name", "digest", "context")


@dataclass(frozen=True, slots=True)
class Field:
    """A metric, param, tag, dataset field or run attribute (canonical name in ``key``)."""

    entity: Entity
    key: str

    @property
    def numeric(self) -> bool:
        """True for metrics and the numeric attributes; they compare with numbers only."""
        return self.entity == "metric" or (
            self.entity == "attribute" and self.key in NUMERIC_ATTRIBUTES
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field <op> value``; ``value`` is a number for numeric fields, else a string."""

    field: Field
    op: CompareOp
    value: int | float | str


@dataclass(frozen=True, slots=True)
class Like:
    """``field [NOT] LIKE|ILIKE pattern`` (``%`` and ``_`` wildcards, no escape character)."""

    field: Field
    pattern: str
    case_sensitive: bool = True
    negated: bool = False


@dataclass(frozen=True, slots=True)
class InList:
    """``field [NOT] IN (v1, v2, ...)`` over strings."""

    field: Field
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    """``field IS [NOT] NULL``: for metrics, params and tags, whether the key is absent."""

    field: Field
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    """All of ``items`` (two or more)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of ``items`` (two or more)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The complement of ``operand``."""

    operand: Node


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One order-by key: missing values sort last in both directions."""

    field: Field
    ascending: bool = True


Node: TypeAlias = Comparison | Like | InList | IsNull | And | Or | Not
