"""Turn a batch of event mappings into an Arrow table with the fixed schema types.

Types follow :mod:`tocsin.core.schema`: envelope and ECS fields take their fixed type; a native
field takes the type of its values, and becomes a string column when one batch mixes types.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa

from tocsin.core.event import Event
from tocsin.core.schema import FieldType, field_type, resolve_name_clashes, to_text

# pyarrow tries to import python-dateutil on every conversion that involves times or
# fails; when it is not installed each try walks sys.path again (it cost 40 % of EVTX
# ingest). Recording "not installed" once makes the later tries immediate.
for _optional in ("dateutil",):
    if _optional not in sys.modules and importlib.util.find_spec(_optional) is None:
        sys.modules[_optional] = None  # type: ignore[assignment]

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
LIST_TYPE = pa.list_(pa.string())

ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.KEYWORD: pa.string(),
    FieldType.LONG: pa.int64(),
    FieldType.DOUBLE: pa.float64(),
    FieldType.BOOLEAN: pa.bool_(),
    FieldType.TIMESTAMP: TIMESTAMP_TYPE,
    FieldType.KEYWORD_LIST: LIST_TYPE,
}


def events_to_table(events: Sequence[Event], text_fields: set[str] | None = None) -> pa.Table:
    """Convert events to a table: Arrow's inference first, a column-by-column path if it fails.

    ``text_fields`` names native fields to store as text; fields found to mix types are added
    to it, so a writer that keeps the set per dataset stores such a field (Windows
    ``ProcessId``: ``500`` in one event, ``0x1f4`` in another) as text from then on, and its
    later batches take Arrow's fast path. Field names that differ only in case are renamed
    by the schema's rule.
    """
    if text_fields:
        for event in events:
            for name in text_fields:
                value = event.get(name)
                if value is not None and type(value) is not str:
                    event[name] = to_text(value)
    table, mixed = _to_table(events)
    if text_fields is not None:
        text_fields.update(mixed)
    names = resolve_name_clashes(table.column_names)
    return table if names is table.column_names else table.rename_columns(names)


def _to_table(events: Sequence[Event]) -> tuple[pa.Table, set[str]]:
    """The table, and the native fields found to mix types (stored as text)."""
    try:
        table = pa.Table.from_struct_array(pa.array(events))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return _slow_table(events)
    columns: list[pa.Array] = []
    names: list[str] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        wanted = _wanted_type(name)
        ctype = column.type
        if wanted is not None and ctype != wanted:
            try:
                column = column.cast(wanted)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = pa.chunked_array([_column_of(column.to_pylist(), name)])
        elif wanted is None and not _is_storable(ctype):
            column = pa.chunked_array([_column_of(column.to_pylist(), name)])
        names.append(name)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=names), set()


def _wanted_type(name: str) -> pa.DataType | None:
    ftype = field_type(name)
    return ARROW_TYPES[ftype] if ftype is not None else None


def _is_storable(dtype: pa.DataType) -> bool:
    if pa.types.is_null(dtype) or pa.types.is_struct(dtype) or pa.types.is_map(dtype):
        return False
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return bool(pa.types.is_string(dtype.value_type))
    if pa.types.is_timestamp(dtype):
        return bool(dtype == TIMESTAMP_TYPE)
    return not bool(pa.types.is_binary(dtype))


def _slow_table(events: Sequence[Event]) -> tuple[pa.Table, set[str]]:
    # One pass over the fields that are there: sparse datasets (Windows Security has hundreds
    # of columns, each event a few) cost what they hold, not rows times columns.
    count = len(events)
    columns: dict[str, tuple[list[int], list[object]]] = {}
    for index, event in enumerate(events):
        for name, value in event.items():
            entry = columns.get(name)
            if entry is None:
                entry = columns[name] = ([], [])
            entry[0].append(index)
            entry[1].append(value)
    arrays = []
    mixed: set[str] = set()
    for name, (indexes, present) in columns.items():
        if len(indexes) == count:
            values = present
        else:
            values = [None] * count
            for index, value in zip(indexes, present, strict=True):
                values[index] = value
        array = _column_of(values, name)
        if field_type(name) is None and pa.types.is_string(array.type) and _mixed(present):
            mixed.add(name)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=list(columns)), mixed


def _mixed(values: list[object]) -> bool:
    return len({type(v) for v in values}) > 1


def _column_of(values: list[object], name: str) -> pa.Array:
    ftype = field_type(name)
    if ftype is not None:
        return _coerce_fixed(values, ftype)
    try:  # Arrow's own inference is fast; keep its result when it is a type the lake stores
        inferred = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        inferred = None
    if inferred is not None and _is_storable(inferred.type):
        if pa.types.is_timestamp(inferred.type) and inferred.type != TIMESTAMP_TYPE:
            return inferred.cast(TIMESTAMP_TYPE)
        return inferred
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pa.array([None] * len(values), type=pa.string())
    if kinds == {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds <= {int} and all(v is None or -(2**63) <= v < 2**63 for v in values):  # type: ignore[operator]
        return pa.array(values, type=pa.int64())
    if kinds <= {int, float} and float in kinds:
        try:
            return pa.array(
                [None if v is None else float(v) for v in values],  # type: ignore[arg-type]
                type=pa.float64(),
            )
        except OverflowError:
            pass
    if kinds == {datetime}:
        return pa.array([_utc(v) for v in values], type=TIMESTAMP_TYPE)  # type: ignore[arg-type]
    if kinds == {list}:
        return pa.array(
            [None if v is None else [to_text(x) for x in v] for v in values],  # type: ignore[attr-defined]
            type=LIST_TYPE,
        )
    return pa.array([None if v is None else to_text(v) for v in values], type=pa.string())


def _coerce_fixed(values: list[object], ftype: FieldType) -> pa.Array:
    arrow_type = ARROW_TYPES[ftype]
    if ftype is not FieldType.KEYWORD_LIST:
        try:  # values of the right type already: Arrow converts them at C speed
            return pa.array(values, type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    out: list[object] = []
    for value in values:
        out.append(coerce_value(value, ftype))
    return pa.array(out, type=arrow_type)


def coerce_value(value: object, ftype: FieldType) -> object:
    """Coerce one value to a fixed field type; a value that cannot be coerced becomes None."""
    if value is None:
        return None
    if ftype is FieldType.KEYWORD:
        return to_text(value)
    if ftype is FieldType.KEYWORD_LIST:
        if isinstance(value, list | tuple | set):
            return [to_text(v) for v in value if v is not None]
        return [to_text(value)]
    if ftype is FieldType.LONG:
        try:
            return int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            return None
    if ftype is FieldType.DOUBLE:
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    if ftype is FieldType.BOOLEAN:
        if isinstance(value, str):
            return value.strip().lower() in {"true", "1", "yes", "t"}
        return bool(value)
    if ftype is FieldType.TIMESTAMP:
        from tocsin.core.timeutil import parse_timestamp

        parsed = parse_timestamp(value)
        return None if parsed is None else _utc(parsed)
    return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
