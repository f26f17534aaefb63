"""User and team rows for notification tests (the people subscriptions point at)."""

from __future__ import annotations

from datetime import UTC, datetime

from tocsin.workspace.tables import Team, TeamMember, User


def add_user(db, username: str, email: str | None = None, *, team_id: int | None = None) -> int:
    """Insert a user (and its team membership); returns its id."""
    with db.session() as session:
        user = User(
            username=username,
            email=email,
            role="analyst",
            password_hash="x",
            created_at=datetime.now(UTC),
        )
        session.add(user)
        session.flush()
        if team_id is not None:
            session.add(TeamMember(team_id=team_id, user_id=user.id))
        return user.id


def add_team(db, name: str) -> int:
    """Insert a team; returns its id."""
    with db.session() as session:
        team = Team(name=name, created_at=datetime.now(UTC))
        session.add(team)
        session.flush()
        return team.id
