"""The one typed settings object, read from ``TOCSIN_*`` variables and an optional ``tocsin.toml``.

Settings are built once at an entry point (CLI or server) and passed in explicitly; nothing
deep inside reads the environment. Precedence: explicit keywords, then environment variables,
then ``<home>/tocsin.toml``, then the defaults below.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

CONFIG_FILE = "tocsin.toml"


class IntelFeed(BaseModel):
    """One indicator feed the user configured (``[[intel_feeds]]`` in ``tocsin.toml``)."""

    name: str = Field(description="Short name, shown as each indicator's provenance.")
    source: str = Field(description="A local path, or an http(s):// URL fetched on schedule.")
    format: str = Field(
        default="auto",
        description="plain, hosts, adblock, rpz, stix, csv, json, jsonl, or auto (sniffed).",
    )
    kind: str | None = Field(
        default=None, description="Kind of a plain list's values (domain, ip, url, ...)."
    )
    refresh_hours: float = Field(
        default=24.0, description="How often `tocsin serve` fetches a URL again (0: never)."
    )
    tags: list[str] = Field(default_factory=list, description="Tags given to every indicator.")


class Settings(BaseSettings):
    """Every setting tocsin reads, each with a default and a help text."""

    model_config = SettingsConfigDict(env_prefix="TOCSIN_", extra="ignore")

    home: Path = Field(
        default=Path("./tocsin-data"),
        description="Folder that holds config, lake, workspace database, spool and quarantine.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the workspace database; default a SQLite file in the home.",
    )
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8080, description="HTTP port of the API, console and ingest route.")
    api_docs: bool = Field(
        default=False,
        description="Serve the interactive API docs at /api/docs (they show no data, but are "
        "the one unauthenticated page: off by default).",
    )
    syslog_udp_port: int | None = Field(
        default=5514, description="UDP syslog port of `tocsin serve`; empty to disable."
    )
    syslog_tcp_port: int | None = Field(
        default=5514, description="TCP syslog port (octet-counted or newline framing)."
    )
    syslog_tls_port: int | None = Field(
        default=None, description="TLS syslog port; needs syslog_tls_cert and syslog_tls_key."
    )
    syslog_tls_cert: Path | None = Field(
        default=None, description="PEM certificate for TLS syslog."
    )
    syslog_tls_key: Path | None = Field(default=None, description="PEM private key for TLS syslog.")
    syslog_tls_client_ca: Path | None = Field(
        default=None,
        description="CA bundle; when set, TLS syslog clients must present a certificate it signed.",
    )
    flush_seconds: float = Field(
        default=2.0, description="Longest time an accepted event waits before the lake has it."
    )
    flush_events: int = Field(
        default=200_000, description="Events buffered per dataset before the writer flushes."
    )
    spool_max_bytes: int = Field(
        default=1 << 30,
        description="Unconsumed spool size at which listeners stop reading (backpressure).",
    )
    spool_fsync: bool = Field(
        default=False,
        description="fsync the spool before acknowledging (survives power loss, slower).",
    )
    compact_interval_seconds: float = Field(
        default=300.0, description="How often `tocsin serve` compacts small lake files."
    )
    retention_days: dict[str, int] = Field(
        default_factory=dict,
        description="Days to keep per dataset (ingest day); '*' sets the default. Empty: forever.",
    )
    retention_interval_seconds: float = Field(
        default=3600.0, description="How often `tocsin serve` applies retention."
    )
    duckdb_threads: int | None = Field(
        default=None, description="Threads DuckDB may use for search; default all cores."
    )
    duckdb_memory_limit: str = Field(
        default="4GB", description="Memory DuckDB may use for one search."
    )
    alert_dedup_minutes: int = Field(
        default=60,
        description="A repeat of an open alert's dedup key within this many minutes of its last "
        "sighting updates that alert (count, last seen) instead of raising a new one.",
    )
    alert_event_ids_max: int = Field(
        default=100, description="Event ids kept per alert (the first ones; the count goes on)."
    )
    attachment_max_bytes: int = Field(
        default=25 * 1024 * 1024, description="Largest case attachment accepted, in bytes."
    )
    session_hours: float = Field(
        default=12.0, description="Longest life of a console session, in hours."
    )
    session_idle_minutes: float = Field(
        default=60.0, description="A console session unused this long expires."
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark session cookies Secure (set when the console is served over HTTPS).",
    )
    login_max_failures: int = Field(
        default=5,
        description="Failed logins allowed per user name and per client address within "
        "login_window_seconds before further attempts are refused (HTTP 429).",
    )
    login_window_seconds: float = Field(
        default=300.0, description="Window of the login rate limit, in seconds."
    )
    sla_interval_seconds: float = Field(
        default=60.0, description="How often `tocsin serve` checks SLAs for breaches."
    )
    notify_interval_seconds: float = Field(
        default=5.0, description="How often `tocsin serve` delivers queued notifications."
    )
    sigma_placeholders: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Values of Sigma placeholders, e.g. {admin_hosts = ['dc01', 'dc02']}.",
    )
    correlation_lateness_seconds: float = Field(
        default=60.0,
        description="How late (in event time) an event may arrive and still be correlated.",
    )
    hunt_interval_minutes: float = Field(
        default=0.0,
        description="How often `tocsin serve` hunts the lake with the enabled rules (0: never).",
    )
    hunt_lookback_minutes: float = Field(
        default=60.0, description="How far back each scheduled hunt looks, in minutes."
    )
    dns_resolver: str = Field(
        default="off",
        description="How sensors ask DNS: off (never: the default, for air-gapped networks), "
        "system, a comma-separated list of server addresses, or file:PATH (a local zone).",
    )
    protected_domains: list[str] = Field(
        default_factory=list,
        description="The organisation's own domains: every sensor flags lookalikes of them "
        "(mail adds mail_protected_domains).",
    )
    intel_feeds: list[IntelFeed] = Field(
        default_factory=list,
        description="Indicator feeds from files or URLs ([[intel_feeds]] tables: name, source, "
        "format, kind, refresh_hours, tags); URLs are fetched only when listed here.",
    )
    intel_feed_max_bytes: int = Field(
        default=256 * 1024 * 1024, description="Largest feed download accepted, in bytes."
    )
    # anti-phishing (issue 6) ---------------------------------------------------------------
    mail_protected_domains: list[str] = Field(
        default_factory=list,
        description="The organisation's own domains: lookalikes of them and spoofs are flagged.",
    )
    mail_vips: list[str] = Field(
        default_factory=list,
        description="People whose names impostors use, as 'Name <address>' (their real "
        "addresses; several separated by commas inside the brackets).",
    )
    mail_brands: list[str] = Field(
        default_factory=list,
        description="Brands added to the built-in list, as 'Name = domain1 domain2'.",
    )
    mail_intel_feeds: list[Path] = Field(
        default_factory=list,
        description="Indicator lists (URLs, domains, addresses, hashes; plain, hosts, CSV or "
        "JSON) the mail checks match; <home>/intel/*.txt|csv|json are read too.",
    )
    mail_suspicious_threshold: float = Field(
        default=4.0, description="Score from which a message is suspicious."
    )
    mail_phishing_threshold: float = Field(
        default=8.0, description="Score from which a message is phishing (and raises an alert)."
    )
    mail_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Points per mail check, overriding the defaults (docs/mail.md lists them).",
    )
    mail_trusted_authserv_ids: list[str] = Field(
        default_factory=list,
        description="authserv-ids of our own mail servers; when set, only their "
        "Authentication-Results count (a sender can forge the others).",
    )
    mail_verify_auth: bool = Field(
        default=False,
        description="Verify SPF, DKIM, ARC and DMARC locally (needs dns_resolver) instead of "
        "only reading the receiving server's results.",
    )
    mail_alert_suspicious: bool = Field(
        default=False, description="Raise a low-severity alert for suspicious messages too."
    )
    mail_auto_block: bool = Field(
        default=False,
        description="Put the sender, domains, links and files of each phishing alert on the "
        "block list at once (otherwise an analyst does it: `tocsin mail block ALERT`).",
    )
    mail_block_days: float = Field(
        default=30.0, description="How long mail block-list entries last (0: no expiry)."
    )
    mail_time_budget_seconds: float = Field(
        default=5.0, description="Longest time the checks may spend on one message."
    )
    mail_imap_url: str | None = Field(
        default=None,
        description="Report mailbox polled by `tocsin serve`, as imaps://user@host[:port]/folder "
        "(the password comes from mail_imap_password).",
    )
    mail_imap_password: str | None = Field(
        default=None, description="Password of the report mailbox (never logged)."
    )
    mail_imap_processed_folder: str | None = Field(
        default=None, description="Folder reports are moved to once analysed (else marked read)."
    )
    mail_imap_ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the IMAP server's certificate."
    )
    mail_imap_interval_seconds: float = Field(
        default=60.0, description="How often `tocsin serve` polls the report mailbox."
    )
    # DNS security (issue 7) ----------------------------------------------------------------
    dns_hunt_interval_minutes: float = Field(
        default=10.0, description="How often `tocsin serve` runs the DNS analytics (0: never)."
    )
    dns_hunt_lookback_minutes: float = Field(
        default=60.0, description="The window each scheduled DNS hunt looks at, in minutes."
    )
    dns_detectors: list[str] = Field(
        default_factory=lambda: ["dga", "tunnel", "new_domain", "lookalike", "indicator"],
        description="DNS detectors that run: dga, tunnel, new_domain, lookalike, indicator.",
    )
    dns_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Overrides of the DNS detectors' thresholds (docs/dns.md lists them).",
    )
    dns_allow_domains: list[str] = Field(
        default_factory=list,
        description="Domains (and their subdomains) the DNS detectors never flag, added to "
        "the built-in popular and CDN list: internal zones, vendors' telemetry.",
    )
    dns_new_domain_days: float = Field(
        default=30.0,
        description="A domain is newly observed when no host asked for it in this many days.",
    )
    dns_learning_days: float = Field(
        default=3.0,
        description="Days of DNS history needed before newly observed domains raise alerts.",
    )
    # Network detection and packets (issue 8) -------------------------------------------------
    net_hunt_interval_minutes: float = Field(
        default=30.0, description="How often `tocsin serve` runs the network analytics (0: never)."
    )
    net_hunt_lookback_hours: float = Field(
        default=24.0,
        description="The window each scheduled network hunt looks at, in hours (beacons need "
        "a day to show their rhythm).",
    )
    net_detectors: list[str] = Field(
        default_factory=lambda: [
            "beacon",
            "long_connection",
            "scan",
            "exfiltration",
            "rare_fingerprint",
            "indicator",
        ],
        description="Network detectors that run: beacon, long_connection, scan, exfiltration, "
        "rare_fingerprint, indicator.",
    )
    net_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Overrides of the network detectors' thresholds (docs/network.md lists them).",
    )
    net_allow: list[str] = Field(
        default_factory=list,
        description="Addresses, CIDR networks and domains the network detectors never flag "
        "(backup servers, update mirrors, monitoring); they also hide past findings.",
    )
    net_internal_networks: list[str] = Field(
        default_factory=lambda: [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "fc00::/7",
            "fe80::/10",
        ],
        description="The organisation's own networks: traffic leaving them is outbound.",
    )
    pcap_store_max_gb: float = Field(
        default=20.0,
        description="Size budget of stored captures (GiB); the oldest are deleted beyond it.",
    )
    pcap_store_max_days: float = Field(
        default=30.0, description="Age budget of stored captures in days (0: keep by size only)."
    )
    pcap_stream_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        description="Bytes of each TCP stream direction reassembled for protocol parsing "
        "(HTTP, SMTP, TLS); files beyond it are hashed as truncated.",
    )
    # Data discovery (issue 9) ----------------------------------------------------------------
    discovery_rules: list[Path] = Field(
        default_factory=list,
        description="Extra discovery rule files (our YAML or gitleaks TOML), added to the "
        "built-in rules unless a file says otherwise.",
    )
    discovery_allow_file: Path | None = Field(
        default=None,
        description="The home's discovery allow-list (YAML: paths, rules, regexes, "
        "fingerprints); default <home>/discovery-allow.yaml when it exists.",
    )
    discovery_min_confidence: float = Field(
        default=0.3, description="Findings below this confidence (0-1) are not reported."
    )
    discovery_alert_pii: bool = Field(
        default=False,
        description="Raise discovery.pii alerts for high-confidence personal data too (secrets "
        "always alert).",
    )
    discovery_hash_key: str | None = Field(
        default=None,
        description="Key of the hashes kept for found values (HMAC-SHA256). Set a private "
        "value so a short value (a 9-digit id) cannot be recovered from its hash; baselines "
        "made with another key do not match.",
    )
    discovery_redact_datasets: list[str] = Field(
        default_factory=list,
        description="Datasets whose events are stored with personal data and secrets masked "
        "('*' for every dataset). Exports of these datasets are masked too.",
    )
    discovery_redact_categories: list[str] = Field(
        default_factory=lambda: ["secret", "pii"],
        description="What redaction masks: secret, pii or both.",
    )
    discovery_lake_interval_minutes: float = Field(
        default=0.0,
        description="How often `tocsin serve` scans recent lake events for leaked secrets "
        "(0: never; `tocsin discovery scan lake` runs it by hand).",
    )

    @field_validator(
        "syslog_udp_port",
        "syslog_tcp_port",
        "syslog_tls_port",
        "database_url",
        "syslog_tls_cert",
        "syslog_tls_key",
        "syslog_tls_client_ca",
        "duckdb_threads",
        "mail_imap_url",
        "mail_imap_password",
        "mail_imap_processed_folder",
        "mail_imap_ca_file",
        "discovery_allow_file",
        "discovery_hash_key",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty value (``TOCSIN_SYSLOG_UDP_PORT=``) disables or unsets the setting."""
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read explicit keywords, then the environment; the TOML file is merged in `load`."""
        return (init_settings, env_settings)

    @property
    def organisation_domains(self) -> tuple[str, ...]:
        """The protected domains of every sensor: ``protected_domains`` then mail's own."""
        found: dict[str, None] = {}
        for domain in [*self.protected_domains, *self.mail_protected_domains]:
            text = domain.strip().lower().rstrip(".")
            if text:
                found.setdefault(text, None)
        return tuple(found)

    # Paths inside the home -------------------------------------------------------------
    @property
    def lake_dir(self) -> Path:
        """Folder of the Parquet event lake."""
        return self.home / "lake"

    @property
    def spool_dir(self) -> Path:
        """Folder of the durable spool that listeners write before acknowledging."""
        return self.home / "spool"

    @property
    def quarantine_dir(self) -> Path:
        """Folder of records that could not be parsed."""
        return self.home / "quarantine"

    @property
    def attachments_dir(self) -> Path:
        """Folder of case attachments, each named by its SHA-256."""
        return self.home / "attachments"

    @property
    def rules_dir(self) -> Path:
        """Installed rule packs and their state."""
        return self.home / "rules"

    @property
    def cache_dir(self) -> Path:
        """Caches that can be rebuilt (compiled rules)."""
        return self.home / "cache"

    @property
    def state_dir(self) -> Path:
        """Folder of small state files (tail offsets, locks)."""
        return self.home / "state"

    @property
    def pcap_dir(self) -> Path:
        """Folder of stored captures and their packet indexes."""
        return self.home / "pcap"

    @property
    def workspace_url(self) -> str:
        """SQLAlchemy URL of the workspace database."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'workspace.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings: keywords, then ``TOCSIN_*``, then ``tocsin.toml``, then defaults."""
    explicit = {k: v for k, v in overrides.items() if v is not None}
    home = Path(explicit.get("home") or os.environ.get("TOCSIN_HOME") or "./tocsin-data")
    from_file: dict[str, Any] = {}
    config_path = home / CONFIG_FILE
    if config_path.is_file():
        with config_path.open("rb") as handle:
            from_file = tomllib.load(handle)
        from_file = from_file.get("tocsin", from_file)
    env_set = {name for name in Settings.model_fields if f"TOCSIN_{name.upper()}" in os.environ}
    merged = {k: v for k, v in from_file.items() if k not in env_set}
    merged.update(explicit)
    merged["home"] = home
    return Settings(**merged)


def describe_settings() -> list[tuple[str, object, str]]:
    """Return (name, default, help) for every setting, for docs and `tocsin init`."""
    rows: list[tuple[str, object, str]] = []
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        rows.append((name, default, field.description or ""))
    return rows
