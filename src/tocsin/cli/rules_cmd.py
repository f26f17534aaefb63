"""``tocsin rules``: list, validate, install and remove packs, switch rules on and off."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from tocsin.cli.common import ensure_home, handle_errors, settings
from tocsin.cli.output import OutputFormat, print_rows, stderr
from tocsin.core.errors import NotFoundError
from tocsin.core.settings import Settings
from tocsin.detect.loader import load_rules
from tocsin.detect.rules import LoadedRule, RuleSet
from tocsin.detect.store import STARTER, InstalledPack, RuleStore, selects, starter_pack_path

app = typer.Typer(
    help="Sigma rules: list, validate, install packs, enable and disable.",
    no_args_is_help=True,
)

RULE_COLUMNS = (
    "id",
    "title",
    "level",
    "status",
    "kind",
    "product",
    "category",
    "service",
    "tags",
    "path",
)
HOME_RULE_COLUMNS = ("enabled", "pack", *RULE_COLUMNS)
SWITCH_COLUMNS = ("id", "title", "level", "kind", "pack", "tags")
ISSUE_COLUMNS = ("path", "rule_id", "severity", "message")
PACK_COLUMNS = ("name", "rules", "source", "installed_at", "sha256", "path")
MAX_ISSUES_SHOWN = 20

PathsArgument = Annotated[
    list[Path], typer.Argument(help="Rule files or folders (searched for *.yml and *.yaml).")
]
OptionalPaths = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Rule files or folders (searched for *.yml and *.yaml); "
        "default: the starter pack and the packs installed in the home.",
        show_default=False,
    ),
]
OutputOption = Annotated[OutputFormat | None, typer.Option("--output", "-o")]
SelectorsArgument = Annotated[
    list[str],
    typer.Argument(
        help="Rule ids, title globs ('*Mimikatz*') or tag globs ('attack.t1059*'); "
        "case does not matter.",
    ),
]


def _home_store(current: Settings) -> RuleStore | None:
    """The home's rule store, or None when there is no home yet."""
    return RuleStore(current.rules_dir) if current.home.is_dir() else None


def _home_rules(current: Settings) -> tuple[RuleSet, RuleStore | None]:
    store = _home_store(current)
    paths = store.enabled_paths() if store is not None else [starter_pack_path()]
    return load_rules(paths, placeholders=current.sigma_placeholders), store


def _pack_of(rule: LoadedRule, store: RuleStore | None) -> str:
    if rule.path.is_relative_to(starter_pack_path()):
        return STARTER
    if store is not None and rule.path.is_relative_to(store.packs_dir):
        return rule.path.relative_to(store.packs_dir).parts[0]
    return ""


def _print_issue_summary(ruleset: RuleSet) -> None:
    if ruleset.issues:
        stderr.print(
            f"{len(ruleset.errors)} errors, {len(ruleset.warnings)} warnings: "
            "see `tocsin rules validate`",
            highlight=False,
        )


@app.command("list")
@handle_errors
def list_rules(
    paths: OptionalPaths = None,
    enabled_only: Annotated[
        bool, typer.Option("--enabled-only", help="Leave out the rules that do not run.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """List the rules of the home (starter pack and installed packs) or of PATH...

    For the home, the `enabled` column says whether a rule runs (see `tocsin rules disable`)
    and `pack` where it comes from. Problems are counted on stderr.
    """
    if paths:
        ruleset = load_rules(paths)
        print_rows([r.to_row() for r in ruleset.rules], output, RULE_COLUMNS, title="Sigma rules")
        _print_issue_summary(ruleset)
        return
    ruleset, store = _home_rules(settings())
    running = store.enabled_ids(ruleset.rules) if store is not None else None
    rows = []
    for rule in ruleset.rules:
        enabled = running is None or rule.id in running
        if enabled_only and not enabled:
            continue
        rows.append({"enabled": enabled, "pack": _pack_of(rule, store), **rule.to_row()})
    print_rows(rows, output, HOME_RULE_COLUMNS, title="Sigma rules")
    _print_issue_summary(ruleset)
    if running is not None:
        stderr.print(
            f"{len(running)} of {len(ruleset.rules)} rules enabled",
            highlight=False,
        )


@app.command("validate")
@handle_errors
def validate_rules(paths: OptionalPaths = None, output: OutputOption = None) -> None:
    """Print every problem in PATH... (default: the home's rules); exit 1 when a rule failed."""
    if paths:
        ruleset = load_rules(paths)
    else:
        ruleset, _store = _home_rules(settings())
    print_rows([i.to_row() for i in ruleset.issues], output, ISSUE_COLUMNS, title="Rule issues")
    failed = len(ruleset.errors)
    stderr.print(
        f"{len(ruleset.rules)} loaded, {failed} failed, {len(ruleset.warnings)} warnings",
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


@app.command("install")
@handle_errors
def install_pack(
    source: Annotated[
        str,
        typer.Argument(
            help="A folder of rules, a .zip of rules (such as SigmaHQ's sigma_core.zip) "
            "or an http(s) URL of one.",
            metavar="PATH_OR_URL",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Pack name; default: from the file or folder name."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an installed pack of the same name.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Install a rule pack into the home; rules that fail to load are reported, not fatal."""
    store = RuleStore(ensure_home().rules_dir)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[amount]}"),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def report(phase: str, done: int, total: int | None) -> None:
            amount = _amount(phase, done, total)
            if phase not in tasks:
                tasks[phase] = progress.add_task(_PHASES.get(phase, phase), total=total, amount="")
            progress.update(tasks[phase], completed=done, total=total, amount=amount)

        pack = store.install(source, name=name, force=force, progress=report)
    print_rows([pack.to_row()], output, PACK_COLUMNS, title="Installed pack")
    _report_install(pack)


_PHASES = {"download": "downloading", "extract": "unpacking", "validate": "validating"}


def _amount(phase: str, done: int, total: int | None) -> str:
    """What a progress line shows after its bar: megabytes, files or rules."""
    if phase == "download":
        known = f"/{total / 1e6:.1f}" if total else ""
        return f"{done / 1e6:.1f}{known} MB"
    unit = "files" if phase == "extract" else "rules"
    return f"{done}/{total} {unit}" if total else f"{done} {unit}" if done else ""


def _report_install(pack: InstalledPack) -> None:
    errors = pack.errors
    warnings = len(pack.issues) - len(errors)
    for issue in errors[:MAX_ISSUES_SHOWN]:
        stderr.print(f"[yellow]rule not loaded[/yellow] {issue.path}: {issue.message}")
    if len(errors) > MAX_ISSUES_SHOWN:
        stderr.print(f"... and {len(errors) - MAX_ISSUES_SHOWN} more", highlight=False)
    stderr.print(
        f"installed pack {pack.name!r}: {pack.rules} rules loaded, {len(errors)} failed, "
        f"{warnings} warnings",
        highlight=False,
    )


@app.command("remove")
@handle_errors
def remove_pack(name: Annotated[str, typer.Argument(help="The pack's name.")]) -> None:
    """Remove an installed pack from the home (the starter pack cannot be removed)."""
    store = _home_store(settings())
    if store is None:
        raise NotFoundError(f"no installed pack {name!r}: there is no home yet")
    pack = store.remove(name)
    stderr.print(f"removed pack {pack.name!r} ({pack.rules} rules)", highlight=False)


@app.command("packs")
@handle_errors
def list_packs(output: OutputOption = None) -> None:
    """List the rule packs: the built-in starter pack, then the installed ones."""
    starter = starter_pack_path()
    rows: list[dict[str, object]] = [
        {
            "name": STARTER,
            "rules": sum(1 for _ in starter.rglob("*.yml")),
            "source": "built-in",
            "installed_at": None,
            "sha256": None,
            "path": str(starter),
        }
    ]
    store = _home_store(settings())
    if store is not None:
        rows.extend(p.to_row() for p in store.packs())
    print_rows(rows, output, PACK_COLUMNS, title="Rule packs")


@app.command("disable")
@handle_errors
def disable_rules(selectors: SelectorsArgument, output: OutputOption = None) -> None:
    """Switch rules off by id, title glob or tag glob; prints the rules now disabled."""
    current = ensure_home()
    store = RuleStore(current.rules_dir)
    store.disable(selectors)
    _report_switch(current, store, selectors, output, enabling=False)


@app.command("enable")
@handle_errors
def enable_rules(selectors: SelectorsArgument, output: OutputOption = None) -> None:
    """Switch rules back on by id, title glob or tag glob; prints the rules still disabled."""
    current = ensure_home()
    store = RuleStore(current.rules_dir)
    store.enable(selectors)
    _report_switch(current, store, selectors, output, enabling=True)


def _report_switch(
    current: Settings,
    store: RuleStore,
    selectors: list[str],
    output: OutputFormat | None,
    *,
    enabling: bool,
) -> None:
    """Print the rules that are now off; warn about selectors that match no rule, or (when
    enabling) whose rules stay off."""
    from tocsin.detect.cache import load_engine
    from tocsin.detect.rulesets import home_cache_dir

    # the compiled-rule cache makes this fast with large packs (filters are not in it)
    engine = load_engine(
        store.enabled_paths(),
        placeholders=current.sigma_placeholders,
        cache_dir=home_cache_dir(current),
    ).engine
    rules = [*engine.rules, *engine.correlations]
    running = store.enabled_ids(rules)
    off = [r for r in rules if r.id not in running]
    print_rows(
        [{"enabled": False, "pack": _pack_of(r, store), **r.to_row()} for r in off],
        output,
        SWITCH_COLUMNS,
        title="Disabled rules",
    )
    for selector in selectors:
        chosen = [r for r in rules if selects(selector.strip(), r)]
        shown = escape(repr(selector))
        if not chosen:
            stderr.print(
                f"[yellow]{shown} matches no detection or correlation rule[/yellow]",
                highlight=False,
            )
        elif enabling and any(r.id not in running for r in chosen):
            still = sum(1 for r in chosen if r.id not in running)
            stderr.print(
                f"[yellow]{still} rules of {shown} stay off (another selector, or a "
                f"correlation switched off): run `tocsin rules enable {escape(selector)}` again to "
                "override other selectors[/yellow]",
                highlight=False,
            )
    stderr.print(
        f"{len(off)} of {len(rules)} rules disabled; selectors: "
        f"{', '.join(store.disabled()) or 'none'}",
        highlight=False,
    )


@app.command("test")
@handle_errors
def test_rule(
    rule: Annotated[Path, typer.Argument(help="The rule file to test.")],
    events: Annotated[
        list[Path], typer.Option("--events", "-e", help="Events to test it on (any ingest format).")
    ],
    rule_id: Annotated[
        str | None, typer.Option("--id", help="Only this rule of a multi-rule file.")
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Format of the events.")] = "auto",
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Dataset of JSON events without one.")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Show which selections of a rule each event matches, and why."""
    from tocsin.detect.authoring import check_rule_file

    reports = check_rule_file(rule, events, rule_id=rule_id, format=format, dataset=dataset)
    rows: list[dict[str, object]] = []
    for report in reports:
        for result in report.results:
            matched = [s.name for s in result.selections if s.matched]
            evidence = "; ".join(f"{s.name}: {s.evidence}" for s in result.selections if s.matched)
            rows.append(
                {
                    "rule": report.title,
                    "event": result.position,
                    "event_id": result.event_id,
                    "dataset": result.dataset,
                    "routed": result.routed,
                    "condition": result.condition,
                    "fires": result.fires,
                    "selections": ",".join(matched),
                    "why": evidence,
                }
            )
        stderr.print(
            f"{escape(report.title)}: fires on {report.fired} of {len(report.results)} events"
        )
        unrouted = [r for r in report.results if r.condition and not r.routed]
        if unrouted:
            stderr.print(
                f"[yellow]{len(unrouted)} events satisfy the condition but their dataset is not "
                "one this rule's logsource reads[/yellow]"
            )
    print_rows(rows, output)
