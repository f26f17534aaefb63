"""Roles, permissions and the principal every service call acts as.

Permissions are checked in the services, not only in the API routes: the CLI, the API and the
detectors call the same functions and meet the same checks. A token carries scopes; what a
token may do is its owner's role intersected with its scopes.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from enum import StrEnum

from tocsin.core.errors import InvalidInputError, PermissionDeniedError


class Permission(StrEnum):
    """One thing a principal may do."""

    HEALTH_READ = "health.read"
    SEARCH_READ = "search.read"
    SEARCH_EXPORT = "search.export"
    INGEST = "ingest"
    ALERT_READ = "alert.read"
    ALERT_TRIAGE = "alert.triage"  # acknowledge, start, assign, comment
    ALERT_CLOSE = "alert.close"  # close with a classification, reopen
    SUPPRESSION_MANAGE = "suppression.manage"
    CASE_READ = "case.read"
    CASE_CREATE = "case.create"
    CASE_UPDATE = "case.update"  # fields, tasks, observables, comments, attachments
    CASE_CLOSE = "case.close"  # close, reopen, merge
    TEMPLATE_MANAGE = "template.manage"
    METRICS_READ = "metrics.read"
    SLA_READ = "sla.read"
    SLA_MANAGE = "sla.manage"
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"  # users, teams, roles
    TOKEN_OWN = "token.own"  # noqa: S105 - a permission name; create and revoke own tokens
    TOKEN_MANAGE = "token.manage"  # noqa: S105 - a permission name; every token
    AUDIT_READ = "audit.read"
    NOTIFICATION_MANAGE = "notification.manage"  # channels
    SUBSCRIPTION_OWN = "subscription.own"  # one's own subscriptions
    RULE_MANAGE = "rule.manage"  # enable and disable detection rules, save rules from searches
    BLOCKLIST_READ = "blocklist.read"  # block and allow lists, their exports
    BLOCKLIST_MANAGE = "blocklist.manage"  # add and remove entries
    MAIL_SUBMIT = "mail.submit"  # submit a message for analysis (and store its verdict)


class Role(StrEnum):
    """The fixed roles, least powerful last."""

    ADMIN = "admin"
    ANALYST = "analyst"
    RESPONDER = "responder"
    READ_ONLY = "read-only"

    @classmethod
    def parse(cls, value: str) -> Role:
        """A role from its name; ``read_only`` and ``readonly`` are accepted."""
        name = value.strip().lower().replace("_", "-")
        if name == "readonly":
            name = "read-only"
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(r.value for r in cls)
            raise InvalidInputError(f"unknown role {value!r}: use one of {known}") from None


P = Permission
_READ = frozenset(
    {
        P.HEALTH_READ,
        P.SEARCH_READ,
        P.ALERT_READ,
        P.CASE_READ,
        P.METRICS_READ,
        P.SLA_READ,
        P.USER_READ,
        P.TOKEN_OWN,
        P.SUBSCRIPTION_OWN,
        P.BLOCKLIST_READ,
    }
)
_RESPONDER = _READ | {
    P.ALERT_TRIAGE,
    P.CASE_UPDATE,
    P.SEARCH_EXPORT,
    P.BLOCKLIST_MANAGE,
    P.MAIL_SUBMIT,
}
_ANALYST = _RESPONDER | {
    P.ALERT_CLOSE,
    P.CASE_CREATE,
    P.CASE_CLOSE,
    P.SUPPRESSION_MANAGE,
    P.TEMPLATE_MANAGE,
    P.RULE_MANAGE,
}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READ_ONLY: _READ,
    Role.RESPONDER: frozenset(_RESPONDER),
    Role.ANALYST: frozenset(_ANALYST),
    Role.ADMIN: frozenset(Permission),
}

# What each token scope allows at most (ARCHITECTURE.md section 5).
_ADMIN_ONLY = frozenset(
    {
        P.USER_MANAGE,
        P.TOKEN_MANAGE,
        P.AUDIT_READ,
        P.SLA_MANAGE,
        P.NOTIFICATION_MANAGE,
    }
)
SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "ingest": frozenset({P.INGEST}),
    "read": _READ,
    "write": frozenset(Permission) - _ADMIN_ONLY - {P.INGEST},
    "admin": frozenset(Permission),
}


def scope_permissions(scopes: tuple[str, ...] | list[str]) -> frozenset[Permission]:
    """The union of what the scopes allow."""
    result: frozenset[Permission] = frozenset()
    for scope in scopes:
        result |= SCOPE_PERMISSIONS.get(scope, frozenset())
    return result


def scopes_for_role(role: Role) -> tuple[str, ...]:
    """The scopes a user of ``role`` may put on a token."""
    allowed = ROLE_PERMISSIONS[role]
    return tuple(s for s, perms in SCOPE_PERMISSIONS.items() if perms <= allowed)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user (by session or token), a system token, a detector, the local CLI.

    ``name`` is what history and audit records show as the actor.
    """

    kind: str  # "user", "token", "system", "local"
    name: str
    permissions: frozenset[Permission]
    user_id: int | None = None
    role: Role | None = None
    team_ids: tuple[int, ...] = ()
    token_prefix: str | None = None
    session_id: str | None = field(default=None, repr=False)

    def can(self, permission: Permission) -> bool:
        """True when the principal holds ``permission``."""
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise PermissionDeniedError unless the principal holds ``permission``."""
        if permission not in self.permissions:
            role = f" (role {self.role.value})" if self.role else ""
            raise PermissionDeniedError(
                f"{self.name!r}{role} may not do {permission.value!r}",
            )

    @classmethod
    def system(cls, name: str = "system") -> Principal:
        """Detectors and scheduled jobs: may raise alerts and run jobs."""
        return cls(kind="system", name=name, permissions=frozenset(Permission))

    @classmethod
    def local(cls) -> Principal:
        """The local command line: whoever can read the home is its administrator."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry in some containers
            user = "unknown"
        return cls(kind="local", name=f"local:{user}", permissions=frozenset(Permission))
