"""Alerts and cases written straight into the tables, with the history the services would write.

SLA and metrics tests build small, exact stories with it (created at, acknowledged at, closed at)
without depending on AlertService and CaseService.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tocsin.workspace import tables
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_change
from tocsin.workspace.models import Severity


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Story:
    """Write alerts, cases, teams and users with their history, at chosen times."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._keys = 0

    def team(self, name: str) -> int:
        with self.db.session() as session:
            row = tables.Team(name=name, description="", created_at=utc(2026, 1, 1))
            session.add(row)
            session.flush()
            return row.id

    def user(self, username: str, email: str | None = None) -> int:
        with self.db.session() as session:
            row = tables.User(
                username=username,
                display_name=username,
                email=email,
                role="analyst",
                password_hash="x",  # noqa: S106 - never checked
                created_at=utc(2026, 1, 1),
            )
            session.add(row)
            session.flush()
            return row.id

    def alert(
        self,
        created: datetime,
        *,
        severity: str = "high",
        rule_id: str = "rule.one",
        team_id: int | None = None,
        assignee_id: int | None = None,
        first_seen: datetime | None = None,
        title: str = "suspicious thing",
    ) -> int:
        self._keys += 1
        with self.db.session() as session:
            row = tables.Alert(
                rule_id=rule_id,
                title=title,
                description="",
                severity=severity,
                severity_rank=Severity(severity).rank,
                status="new",
                dedup_key=f"{rule_id}|{self._keys}",
                team_id=team_id,
                assignee_id=assignee_id,
                tags=[],
                observables=[],
                reasons=[],
                fields={},
                event_ids=[],
                count=1,
                first_seen=first_seen or created,
                last_seen=first_seen or created,
                created_at=created,
                updated_at=created,
            )
            session.add(row)
            session.flush()
            initial = {"status": "new", "severity": severity, "rule_id": rule_id}
            record_change(session, "alert", row.id, "detector", "create", after=initial, at=created)
            return row.id

    def case(
        self,
        created: datetime,
        *,
        severity: str = "medium",
        team_id: int | None = None,
        assignee_id: int | None = None,
        title: str = "an incident",
    ) -> int:
        with self.db.session() as session:
            row = tables.Case(
                title=title,
                description="",
                severity=severity,
                severity_rank=Severity(severity).rank,
                status="new",
                team_id=team_id,
                assignee_id=assignee_id,
                tags=[],
                techniques=[],
                created_by="ana",
                created_at=created,
                updated_at=created,
            )
            session.add(row)
            session.flush()
            initial = {"status": "new", "severity": severity, "title": title}
            record_change(session, "case", row.id, "ana", "create", after=initial, at=created)
            return row.id

    def move(self, entity_type: str, entity_id: int, at: datetime, status: str) -> None:
        """A status change, as the services write it."""
        table = tables.Alert if entity_type == "alert" else tables.Case
        with self.db.session() as session:
            row = session.get(table, entity_id)
            assert row is not None
            before = row.status
            row.status = status
            row.updated_at = at
            if status == "closed":
                row.closed_at = at
            if entity_type == "alert" and before == "new" and row.acknowledged_at is None:
                row.acknowledged_at = at
            record_change(
                session,
                entity_type,
                entity_id,
                "ana",
                "update",
                field="status",
                before=before,
                after=status,
                at=at,
            )

    def close(self, entity_type: str, entity_id: int, at: datetime, classification: str) -> None:
        """Close with a classification: a status record and a classification record."""
        self.move(entity_type, entity_id, at, "closed")
        table = tables.Alert if entity_type == "alert" else tables.Case
        with self.db.session() as session:
            row = session.get(table, entity_id)
            assert row is not None
            row.classification = classification
            record_change(
                session,
                entity_type,
                entity_id,
                "ana",
                "update",
                field="classification",
                before=None,
                after=classification,
                at=at,
            )

    def subscribe_everything(self) -> int:
        """A webhook channel with a catch-all subscription for SLA events; returns its id."""
        with self.db.session() as session:
            channel = tables.NotificationChannel(
                name="soc-hook",
                kind="webhook",
                config={"url": "http://127.0.0.1:9/hook"},
                enabled=True,
                created_at=utc(2026, 1, 1),
            )
            session.add(channel)
            session.flush()
            session.add(
                tables.Subscription(
                    channel_id=channel.id,
                    events=["sla.at_risk", "sla.breached"],
                    min_severity="informational",
                    created_at=utc(2026, 1, 1),
                )
            )
            return channel.id
