"""Suppression rules: drafts that match one are counted on the rule instead of raising alerts.

A rule names an optional ``rule_id`` (exact, or a prefix when it ends with ``*``; none means
every rule) and ``conditions``: observable type -> value or list of values (any of them, case-
insensitive, ``*`` is a wildcard), plus an optional ``title_contains`` (text or list of texts,
case-insensitive substring). A draft is suppressed when the rule id matches and every condition
holds. Rules are loaded once per ``raise_alerts`` batch and matched in Python; each hit adds to
the rule's ``hits`` and sets ``last_hit_at``, so a suppression never silently drops anything.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_audit
from tocsin.workspace.models import AlertDraft, ObservableType
from tocsin.workspace.paging import Page, paginate
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import SuppressionRule

TITLE_CONTAINS = "title_contains"
MAX_VALUES = 1000


@dataclass(frozen=True, slots=True)
class SuppressionRead:
    """A suppression rule as lists show it."""

    id: int
    name: str
    rule_id: str | None
    conditions: dict[str, Any]
    reason: str
    enabled: bool
    expires_at: datetime | None
    hits: int
    last_hit_at: datetime | None
    created_by: str
    created_at: datetime

    def is_active(self, now: datetime | None = None) -> bool:
        """Enabled and not expired."""
        moment = now or datetime.now(UTC)
        return self.enabled and (self.expires_at is None or self.expires_at > moment)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "rule_id": self.rule_id,
            "conditions": self.conditions,
            "reason": self.reason,
            "enabled": self.enabled,
            "active": self.is_active(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "hits": self.hits,
            "last_hit_at": self.last_hit_at.isoformat() if self.last_hit_at else None,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def _read(row: SuppressionRule) -> SuppressionRead:
    return SuppressionRead(
        id=row.id,
        name=row.name,
        rule_id=row.rule_id,
        conditions=dict(row.conditions or {}),
        reason=row.reason,
        enabled=row.enabled,
        expires_at=row.expires_at,
        hits=int(row.hits or 0),
        last_hit_at=row.last_hit_at,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def normalize_conditions(conditions: Mapping[str, object] | None) -> dict[str, list[str]]:
    """Check and normalise conditions: known keys, each a non-empty list of lowercase text."""
    result: dict[str, list[str]] = {}
    for raw_key, raw_value in (conditions or {}).items():
        key = str(raw_key).strip().lower()
        if key != TITLE_CONTAINS:
            try:
                key = ObservableType(key).value
            except ValueError:
                known = ", ".join([*(t.value for t in ObservableType), TITLE_CONTAINS])
                raise InvalidInputError(
                    f"unknown suppression condition {raw_key!r}: use one of {known}"
                ) from None
        items = raw_value if isinstance(raw_value, list | tuple) else [raw_value]
        values = [str(v).strip().lower() for v in items if v is not None and str(v).strip()]
        if not values:
            raise InvalidInputError(f"suppression condition {raw_key!r} needs at least one value")
        if len(values) > MAX_VALUES:
            raise InvalidInputError(
                f"suppression condition {raw_key!r} has {len(values)} values: at most {MAX_VALUES}"
            )
        result[key] = values
    return result


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    id: int
    rule_id: str | None
    conditions: dict[str, list[str]]

    def matches(self, draft: AlertDraft) -> bool:
        if self.rule_id is not None:
            if self.rule_id.endswith("*"):
                if not draft.rule_id.startswith(self.rule_id[:-1]):
                    return False
            elif draft.rule_id != self.rule_id:
                return False
        for key, values in self.conditions.items():
            if key == TITLE_CONTAINS:
                title = draft.title.lower()
                if not any(v in title for v in values):
                    return False
                continue
            seen = [o.value.lower() for o in draft.observables if o.type.lower() == key]
            if not any(_value_matches(s, v) for s in seen for v in values):
                return False
        return True


def _value_matches(seen: str, wanted: str) -> bool:
    if "*" in wanted or "?" in wanted:
        return fnmatch.fnmatchcase(seen, wanted)
    return seen == wanted


class SuppressionMatcher:
    """The active rules of one batch, matched in Python."""

    def __init__(self, rules: Sequence[_CompiledRule]) -> None:
        self.rules = list(rules)

    @classmethod
    def load(cls, session: Session, now: datetime) -> SuppressionMatcher:
        """The enabled, unexpired rules (one query)."""
        rows = session.execute(
            select(SuppressionRule.id, SuppressionRule.rule_id, SuppressionRule.conditions)
            .where(
                SuppressionRule.enabled.is_(True),
                or_(SuppressionRule.expires_at.is_(None), SuppressionRule.expires_at > now),
            )
            .order_by(SuppressionRule.id)
        ).all()
        compiled = []
        for rule_pk, rule_id, conditions in rows:
            try:
                normalized = normalize_conditions(conditions)
            except InvalidInputError:
                continue  # written by hand into the database: skip rather than fail the batch
            compiled.append(_CompiledRule(rule_pk, rule_id, normalized))
        return cls(compiled)

    def match(self, draft: AlertDraft) -> int | None:
        """The id of the first rule suppressing ``draft``, or None."""
        for rule in self.rules:
            if rule.matches(draft):
                return rule.id
        return None


class SuppressionStore:
    """Create, list, disable and delete suppression rules (the AlertService exposes these)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        actor: Principal,
        name: str,
        *,
        rule_id: str | None = None,
        conditions: Mapping[str, object] | None = None,
        reason: str,
        expires_at: datetime | None = None,
    ) -> SuppressionRead:
        """Create a rule; it needs a rule id or a condition, and a reason."""
        actor.require(Permission.SUPPRESSION_MANAGE)
        clean_name = name.strip()
        if not clean_name or len(clean_name) > 200:
            raise InvalidInputError(f"suppression name {name!r} must have 1 to 200 characters")
        clean_rule = (rule_id or "").strip() or None
        if clean_rule is not None and (clean_rule == "*" or len(clean_rule) > 200):
            raise InvalidInputError(
                f"rule id {rule_id!r} is not allowed: give a rule id or prefix* (to 200 chars), "
                "or none for every rule"
            )
        normalized = normalize_conditions(conditions)
        if clean_rule is None and not normalized:
            raise InvalidInputError(
                "a suppression needs a rule id or at least one condition: it would hide every alert"
            )
        if not reason.strip():
            raise InvalidInputError("say why: a suppression needs a reason")
        now = datetime.now(UTC)
        if expires_at is not None:
            expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
            if expires_at <= now:
                raise InvalidInputError(f"expiry {expires_at.isoformat()!r} is in the past")
        with self.db.session() as session:
            row = SuppressionRule(
                name=clean_name,
                rule_id=clean_rule,
                conditions=normalized,
                reason=reason.strip(),
                enabled=True,
                expires_at=expires_at,
                hits=0,
                created_by=actor.name,
                created_at=now,
            )
            session.add(row)
            session.flush()
            record_audit(
                session,
                actor,
                "suppression.create",
                target=f"suppression:{row.id}",
                detail={"name": clean_name, "rule_id": clean_rule, "conditions": normalized},
            )
            return _read(row)

    def list(
        self,
        actor: Principal,
        *,
        include_disabled: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[SuppressionRead]:
        """Rules, newest first."""
        actor.require(Permission.ALERT_READ)
        query = select(SuppressionRule).order_by(SuppressionRule.id.desc())
        if not include_disabled:
            query = query.where(SuppressionRule.enabled.is_(True))
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            return Page([_read(r) for r in rows], total, limit, offset)

    def get(self, actor: Principal, suppression_id: int) -> SuppressionRead:
        """One rule."""
        actor.require(Permission.ALERT_READ)
        with self.db.session() as session:
            return _read(self._row(session, suppression_id))

    def disable(self, actor: Principal, suppression_id: int) -> SuppressionRead:
        """Stop a rule from suppressing (it stays listed with its hits)."""
        actor.require(Permission.SUPPRESSION_MANAGE)
        with self.db.session() as session:
            row = self._row(session, suppression_id)
            if row.enabled:
                row.enabled = False
                record_audit(
                    session,
                    actor,
                    "suppression.disable",
                    target=f"suppression:{row.id}",
                    detail={"name": row.name},
                )
            session.flush()
            return _read(row)

    def delete(self, actor: Principal, suppression_id: int) -> None:
        """Delete a rule (the audit log keeps that it existed)."""
        actor.require(Permission.SUPPRESSION_MANAGE)
        with self.db.session() as session:
            row = self._row(session, suppression_id)
            record_audit(
                session,
                actor,
                "suppression.delete",
                target=f"suppression:{row.id}",
                detail={"name": row.name, "hits": int(row.hits or 0)},
            )
            session.delete(row)

    @staticmethod
    def _row(session: Session, suppression_id: int) -> SuppressionRule:
        row = session.get(SuppressionRule, suppression_id)
        if row is None:
            raise NotFoundError(f"no suppression rule {suppression_id!r}")
        return row
