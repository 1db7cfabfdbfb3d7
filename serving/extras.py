"""A request's ``extras`` resolved onto the serving model's extra columns, named as the pull stage names them.

The pull stage turns an export column ``Lead Quality`` into ``xcat_lead_quality``: the prefix comes from the
mapping (categorical or numeric), the suffix from ``sanitise_name``. The API resolves a sent extra against the
model's spec with that same function, so a CRM that sends its export's own column names reaches the features
the model was trained on. Guessing the prefix from the JSON type instead would miss them silently: a null is
neither text nor a number, and ``"Lead Quality"`` is not ``lead_quality``.

Extras the model does not use are ignored (CRMs send their whole lead object); an extra the model needs and
the request lacks, or a value of the wrong kind, is a 422 naming ``extras.<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from leadscore.core import canonical
from leadscore.core.canonical import sanitise_name
from leadscore.serving.errors import ApiError

_PREFIXES = (canonical.EXTRA_CATEGORICAL_PREFIX, canonical.EXTRA_NUMERIC_PREFIX)


@dataclass(frozen=True)
class ExtraColumns:
    """The model's extra input columns (``xcat_*`` text, ``xnum_*`` numbers)."""

    categorical: frozenset[str]
    numeric: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.categorical or self.numeric)


@lru_cache(maxsize=8)
def extra_columns(categorical: tuple[str, ...], numeric: tuple[str, ...]) -> ExtraColumns:
    """The spec's extra columns as sets (cached: called once per scoring call with the spec's tuples)."""
    return ExtraColumns(frozenset(categorical), frozenset(numeric))


def resolve_extras(
    extras: Mapping[str, Any] | None, columns: ExtraColumns, *, index: int | None = None
) -> dict[str, Any]:
    """Canonical extra column -> value for one lead.

    Args:
        extras: the lead's ``extras`` as sent (export column names, or names already carrying the prefix).
        columns: the serving model's extra columns.
        index: the lead's position in a batch (for the error's field), None for a single lead.

    Returns:
        One entry per extra column of the model (contact data and extras the model does not use dropped).

    Raises:
        ApiError: 422 naming ``extras.<name>`` for a missing column, a value of the wrong kind, or two names
            that resolve to the same column.
    """
    where = "" if index is None else f"leads.{index}."
    out: dict[str, Any] = {}
    sent_as: dict[str, str] = {}
    for name, value in (extras or {}).items():
        suffix = sanitise_name(name)
        if name.lower() in canonical.PII_COLUMNS or suffix in canonical.PII_COLUMNS:
            continue  # contact data never reaches the model or the log
        if name.startswith(_PREFIXES):
            candidates: tuple[str, ...] = (name,)
        else:
            candidates = (
                canonical.EXTRA_CATEGORICAL_PREFIX + suffix,
                canonical.EXTRA_NUMERIC_PREFIX + suffix,
            )
        known = [c for c in candidates if c in columns.categorical or c in columns.numeric]
        if len(known) == 2 and value is not None:  # the model has both kinds: the value says which
            known = [known[0] if isinstance(value, str) else known[1]]
        field = f"{where}extras.{name}"
        for column in known:
            if value is not None and isinstance(value, str) != (column in columns.categorical):
                kind = "text" if column in columns.categorical else "a number"
                raise ApiError(
                    422, "validation_error", f"{field}: expected {kind} (model column {column})", field
                )
            if column in sent_as:
                raise ApiError(
                    422,
                    "validation_error",
                    f"{field}: names the same model column ({column}) as extras.{sent_as[column]}",
                    field,
                )
            out[column] = value
            sent_as[column] = name
    if len(out) < len(columns.categorical) + len(columns.numeric):
        missing = sorted((columns.categorical | columns.numeric) - out.keys())[0]
        field = f"{where}extras.{missing.split('_', 1)[1]}"  # xcat_plan -> extras.plan
        raise ApiError(
            422,
            "unprocessable_lead",
            f"{field}: required by the model (column {missing!r}); send null when unknown",
            field,
        )
    return out
