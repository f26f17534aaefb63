"""Workspace domain values: enums and the drafts other modules hand in.

Enum values are the strings stored in the database and shown by the API and CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tocsin.core.errors import InvalidInputError
from tocsin.core.event import Reason


class Severity(StrEnum):
    """Sigma's levels, lowest first."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for informational up to 4 for critical (sorts and thresholds use it)."""
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, value: str) -> Severity:
        """A severity from its name (case-insensitive); ``info`` is accepted."""
        name = value.strip().lower()
        if name == "info":
            name = "informational"
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise InvalidInputError(f"unknown severity {value!r}: use one of {known}") from None


_SEVERITY_ORDER = list(Severity)


class AlertStatus(StrEnum):
    """The fixed stages of an alert."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class Classification(StrEnum):
    """How a closed alert or case turned out."""

    TRUE_POSITIVE = "true_positive"
    BENIGN_POSITIVE = "benign_positive"
    FALSE_POSITIVE = "false_positive"
    UNDETERMINED = "undetermined"
    DUPLICATE = "duplicate"


class CaseStatus(StrEnum):
    """The stages of a case; ``on_hold`` (waiting on someone outside) pauses SLA clocks."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


class TaskStatus(StrEnum):
    """The stages of a case task."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class ObservableType(StrEnum):
    """Typed observables (ARCHITECTURE.md section 5)."""

    IP = "ip"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    HASH = "hash"
    FILE = "file"
    USER = "user"
    HOST = "host"
    PROCESS = "process"
    JA3 = "ja3"
    JA4 = "ja4"


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0: who may see an observable."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


class Pap(StrEnum):
    """Permissible Actions Protocol: what may be done with an observable."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True, slots=True)
class Observable:
    """A typed value seen in an alert or a case."""

    type: str
    value: str

    @classmethod
    def of(cls, type_: str, value: str) -> Observable:
        """Validate the type and trim the value."""
        try:
            kind = ObservableType(type_.strip().lower())
        except ValueError:
            known = ", ".join(t.value for t in ObservableType)
            raise InvalidInputError(
                f"unknown observable type {type_!r}: use one of {known}"
            ) from None
        text = str(value).strip()
        if not text:
            raise InvalidInputError(f"an observable of type {kind.value!r} needs a value")
        return cls(kind.value, text)

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """What a detector hands to ``raise_alerts``.

    ``rule_id`` is the Sigma rule id or ``<module>.<detector>``. ``dedup_key`` (default: the rule
    id and the sorted observables) folds repeats of the same finding within the dedup window into
    one alert whose count and last-seen time grow. ``event_time`` is when the earliest triggering
    event happened (MTTD is measured from it).
    """

    rule_id: str
    title: str
    severity: Severity | str
    event_ids: Sequence[str] = ()
    observables: Sequence[Observable] = ()
    tags: Sequence[str] = ()
    reasons: Sequence[Reason] = ()
    dedup_key: str | None = None
    event_time: datetime | None = None
    description: str = ""
    team: str | None = None
    source: str | None = None
    fields: Mapping[str, object] = field(default_factory=dict)

    def key(self) -> str:
        """The dedup key: the given one, or rule id plus sorted observables."""
        if self.dedup_key:
            return self.dedup_key
        parts = sorted(f"{o.type}={o.value}" for o in self.observables)
        return "|".join([self.rule_id, *parts])
