"""Rows the case tests need (users, teams, alerts), written straight into the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tocsin.workspace.models import Severity
from tocsin.workspace.tables import Alert, HistoryRecord, Team, User


def add_user(db, username: str, role: str = "analyst", *, email: str | None = None) -> int:
    with db.session() as session:
        user = User(
            username=username,
            display_name=username.title(),
            email=email,
            role=role,
            password_hash="x",
            created_at=datetime.now(UTC),
        )
        session.add(user)
        session.flush()
        return user.id


def add_team(db, name: str) -> int:
    with db.session() as session:
        team = Team(name=name, created_at=datetime.now(UTC))
        session.add(team)
        session.flush()
        return team.id


def add_alert(
    db,
    title: str,
    severity: str = "medium",
    *,
    rule_id: str = "test.rule",
    tags: tuple[str, ...] = (),
    observables: tuple[tuple[str, str], ...] = (),
    seen_minutes_ago: int = 10,
    case_id: int | None = None,
) -> int:
    now = datetime.now(UTC)
    level = Severity.parse(severity)
    with db.session() as session:
        alert = Alert(
            rule_id=rule_id,
            title=title,
            description=f"{title} description",
            severity=level.value,
            severity_rank=level.rank,
            status="new",
            dedup_key=f"{rule_id}|{title}",
            tags=list(tags),
            observables=[{"type": t, "value": v} for t, v in observables],
            reasons=[],
            fields={},
            event_ids=["e1"],
            first_seen=now - timedelta(minutes=seen_minutes_ago),
            last_seen=now,
            created_at=now,
            updated_at=now,
            case_id=case_id,
        )
        session.add(alert)
        session.flush()
        return alert.id


def alert_case_id(db, alert_id: int) -> int | None:
    with db.session() as session:
        return session.get(Alert, alert_id).case_id


def history(db, entity_type: str, entity_id: int) -> list[HistoryRecord]:
    with db.session() as session:
        return list(
            session.scalars(
                select(HistoryRecord)
                .where(
                    HistoryRecord.entity_type == entity_type,
                    HistoryRecord.entity_id == entity_id,
                )
                .order_by(HistoryRecord.id)
            )
        )
