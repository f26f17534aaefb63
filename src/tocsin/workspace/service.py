"""The workspace: one object holding every operations service over one database.

The API, the CLI, the detectors and the scheduled jobs all go through it, so the permission
checks in the services apply to every caller.
"""

from __future__ import annotations

from collections.abc import Sequence

from tocsin.core.settings import Settings
from tocsin.workspace.alerts import AlertService, RaiseResult
from tocsin.workspace.cases import CaseService
from tocsin.workspace.channels import ChannelService
from tocsin.workspace.db import Database
from tocsin.workspace.history import HistoryService
from tocsin.workspace.metrics import MetricsService
from tocsin.workspace.models import AlertDraft
from tocsin.workspace.permissions import Principal
from tocsin.workspace.saved_searches import SavedSearchService
from tocsin.workspace.sla import SlaService
from tocsin.workspace.tokens import TokenService
from tocsin.workspace.users import UserService


class Workspace:
    """Every operations service, sharing one database and one settings object."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.tokens = TokenService(db)
        self.users = UserService(db, settings, self.tokens)
        self.history = HistoryService(db)
        self.alerts = AlertService(db, settings)
        self.cases = CaseService(db, settings)
        self.sla = SlaService(db, settings)
        self.metrics = MetricsService(db, settings)
        self.channels = ChannelService(db, settings)
        self.saved_searches = SavedSearchService(db)

    @classmethod
    def open(cls, settings: Settings) -> Workspace:
        """The workspace of the home (or of ``TOCSIN_DATABASE_URL``), migrated."""
        return cls(Database(settings.workspace_url), settings)

    def raise_alerts(
        self, drafts: Sequence[AlertDraft], actor: Principal | None = None
    ) -> RaiseResult:
        """Raise a batch of alerts (ARCHITECTURE.md section 5): dedup and suppression apply."""
        return self.alerts.raise_alerts(drafts, actor=actor)

    def raise_alert(self, draft: AlertDraft, actor: Principal | None = None) -> int | None:
        """Raise one alert; returns its id (new or deduplicated), None when suppressed."""
        return self.alerts.raise_alert(draft, actor=actor)

    def close(self) -> None:
        """Release the database connections."""
        self.db.close()
