"""The home folder: create it, and check it is there."""

from __future__ import annotations

from tocsin.core.settings import CONFIG_FILE, Settings, describe_settings

_HEADER = """\
# tocsin settings. Every key is optional; TOCSIN_<NAME> environment variables win over this file.
# Uncomment a line to change it.
"""


def init_home(settings: Settings) -> list[str]:
    """Create the home's folders and a commented ``tocsin.toml``; returns what was created."""
    created: list[str] = []
    for folder in (
        settings.home,
        settings.lake_dir,
        settings.spool_dir,
        settings.quarantine_dir,
        settings.state_dir,
    ):
        if not folder.exists():
            folder.mkdir(parents=True)
            created.append(str(folder))
    config = settings.home / CONFIG_FILE
    if not config.exists():
        lines = [_HEADER]
        for name, default, help_text in describe_settings():
            if name == "home":
                continue
            lines.append(f"# {help_text}")
            lines.append(f"# {name} = {_toml_value(default)}")
            lines.append("")
        config.write_text("\n".join(lines))
        created.append(str(config))
    return created


def _toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{}" if not value else "{ " + ", ".join(f'"{k}" = {v}' for k, v in value.items()) + " }"
        )
    return f'"{value}"'
