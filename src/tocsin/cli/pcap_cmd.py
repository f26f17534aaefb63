"""``tocsin pcap``: read captures into flows, offline or into the lake."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import Progress, TaskID

from tocsin.cli.common import handle_errors
from tocsin.cli.output import (
    OutputFormat,
    OutputOpt,
    print_rows,
    progress_bar,
    resolve_format,
    stderr,
)

app = typer.Typer(
    help="Packets: flows and metadata from pcap/pcapng captures, the packet index, extraction.",
    no_args_is_help=True,
)

FLOW_COLUMNS = (
    "@timestamp",
    "network.transport",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "source.packets",
    "destination.packets",
    "source.bytes",
    "destination.bytes",
    "conn_state",
    "history",
    "network.community_id",
)


CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")


def _existing(paths: list[Path]) -> list[Path]:
    """The capture files named, a folder standing for the captures inside it (recursively)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such capture file: {', '.join(missing)}", param_hint="FILE")
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES)
            )
        else:
            found.append(path)
    return found


@app.command("flows")
@handle_errors
def flows(
    files: Annotated[list[Path], typer.Argument(help="pcap or pcapng files (gzip too).")],
    output: OutputOpt = None,
    limit: Annotated[
        int, typer.Option(help="Table and JSON output: at most this many flows (0: all).")
    ] = 1000,
) -> None:
    """Print the flows of captures (works offline, without a home; writes nothing)."""
    from tocsin.pcap.engine import PacketEngine

    chosen = resolve_format(output)
    streaming = chosen in (OutputFormat.NDJSON, OutputFormat.CSV)
    kept: list[dict[str, object]] = []
    header_done = False
    total_flows = 0
    for path in _existing(files):
        engine = PacketEngine(path)
        size = max(path.stat().st_size, 1)
        with progress_bar(f"{path.name}") as bar:
            task = bar.add_task(path.name, total=size)
            for result in engine.run():
                if len(result.batch):
                    bar.update(task, completed=int(result.batch.file_off[-1]))
                if result.flows is None:
                    continue
                rows = result.flows.to_pylist()
                total_flows += len(rows)
                if streaming:
                    _stream(rows, chosen, header_done)
                    header_done = True
                elif not limit or len(kept) < limit:
                    kept.extend(rows[: (limit - len(kept)) if limit else None])
        _summary(engine.stats.to_dict(), path)
    if not streaming:
        kept.sort(key=lambda r: str(r["@timestamp"]))
        columns = FLOW_COLUMNS if chosen is OutputFormat.TABLE else None
        print_rows(kept, chosen, columns, title="Flows")
        if limit and total_flows > len(kept):
            stderr.print(f"showing {len(kept)} of {total_flows} flows (--limit 0 for all)")


def _advance(bar: Progress, task: TaskID, done: int) -> None:
    bar.update(task, completed=done)


def _stream(rows: list[dict[str, object]], fmt: OutputFormat, header_done: bool) -> None:
    if fmt is OutputFormat.NDJSON:
        out = sys.stdout
        for row in rows:
            out.write(orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS).decode())
            out.write("\n")
        return
    import csv

    writer = csv.writer(sys.stdout)
    if not header_done:
        writer.writerow(FLOW_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else str(row.get(c)) for c in FLOW_COLUMNS])


def _summary(stats: dict[str, object], path: Path) -> None:
    anomalies = stats["anomalies"]
    if not isinstance(anomalies, dict):
        anomalies = {}
    line = (
        f"{path.name}: {stats['packets']} packets, {stats['flows']} flows, "
        f"{stats['reassembled_datagrams']} datagrams reassembled in {stats['seconds']} s"
    )
    stderr.print(line)
    counts = anomalies.get("counts") or {}
    if counts:
        listed = ", ".join(f"{k} {v}" for k, v in counts.items())
        stderr.print(f"  anomalies: {listed}")
        for example in anomalies.get("examples", [])[:5]:
            stderr.print(f"    {example['kind']} at {example['where']}: {example['detail']}")


@app.command("import")
@handle_errors
def import_(
    files: Annotated[list[Path], typer.Argument(help="pcap or pcapng files (gzip too).")],
    force: Annotated[
        bool, typer.Option("--force", help="Import again a capture already stored.")
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Import captures: flows into the lake, packets into the store with their index."""
    from tocsin.cli.common import ensure_home
    from tocsin.pcap.importer import import_capture

    settings = ensure_home()
    results = []
    for path in _existing(files):
        size = max(path.stat().st_size, 1)
        with progress_bar(path.name) as bar:
            task = bar.add_task(path.name, total=size)
            result = import_capture(
                settings,
                path,
                force=force,
                progress=partial(_advance, bar, task),
            )
        results.append(result.to_dict())
        if result.skipped:
            stderr.print(f"{path.name}: already stored as capture {result.capture_id} (--force)")
            continue
        _summary(
            {
                "packets": result.packets,
                "flows": result.flows,
                "reassembled_datagrams": result.anomalies.get("reassembled", 0),
                "seconds": round(result.seconds, 3),
                "anomalies": result.anomalies,
            },
            path,
        )
        for removed in result.removed_by_retention:
            stderr.print(f"  retention removed the packets of capture {removed}")
    rows = [
        {
            "capture": r["capture"],
            "path": r["path"],
            "skipped": r["skipped"],
            "packets": r["packets"],
            "flows": r["flows"],
            "events": r["events"],
        }
        for r in results
    ]
    print_rows(rows, output, title="Imported captures")


@app.command("extract")
@handle_errors
def extract(
    out: Annotated[Path, typer.Option("--out", "-o", help="The pcap file to write ('-': stdout).")],
    flow: Annotated[
        list[str] | None, typer.Option("--flow", help="A flow id (repeat): <capture>-<n>.")
    ] = None,
    community_id: Annotated[
        list[str] | None,
        typer.Option("--community-id", help="A Community ID (repeat): every flow that has it."),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", help="A tcpdump-style filter: 'host 10.0.0.5 and tcp port 443'."),
    ] = None,
    capture: Annotated[
        list[str] | None,
        typer.Option(
            "--capture", help="With --filter: stored capture ids or files (default: all)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="With --filter: packets from this time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="With --filter: packets up to this time.")
    ] = None,
) -> None:
    """Write the packets of flows, Community IDs or a filter to a pcap file."""
    from tocsin.core.timeutil import parse_time_bound
    from tocsin.pcap.bpf import compile_filter
    from tocsin.pcap.extract import extract_filter, extract_flows, flows_of_community_ids

    chosen = sum(bool(x) for x in (flow, community_id, filter_))
    if chosen != 1:
        raise typer.BadParameter("give exactly one of --flow, --community-id, --filter")
    settings = None
    paths: list[Path] = []
    if filter_:
        expression = compile_filter(filter_)
        for item in capture or []:
            if Path(item).is_file():
                paths.append(Path(item))
        ids = [c for c in capture or [] if not Path(c).is_file()]
        if ids or not capture:
            from tocsin.cli.common import ensure_home
            from tocsin.pcap.store import CaptureStore

            settings = ensure_home()
            store = CaptureStore(settings)
            entries = [store.get(c) for c in ids] if ids else store.list()
            paths.extend(store.capture_path(e) for e in entries)
    else:
        from tocsin.cli.common import ensure_home

        settings = ensure_home()
    handle = sys.stdout.buffer if str(out) == "-" else out.open("wb")
    try:
        if filter_:
            result = extract_filter(
                paths,
                expression,
                handle,
                since=parse_time_bound(since) if since else None,
                until=parse_time_bound(until) if until else None,
            )
        elif settings is not None:
            ids = list(flow or [])
            if community_id:
                ids += flows_of_community_ids(settings, list(community_id))
                if not ids:
                    raise typer.BadParameter(
                        "no stored pcap flow has these Community IDs", param_hint="--community-id"
                    )
            result = extract_flows(settings, ids, handle)
    finally:
        if handle is not sys.stdout.buffer:
            handle.close()
    stderr.print(f"wrote {result.packets} packets ({result.bytes} bytes) to {out}")
    for missing in result.missing:
        stderr.print(f"  capture {missing} is no longer stored (retention): its packets are gone")


@app.command("captures")
@handle_errors
def captures(output: OutputOpt = None) -> None:
    """List the stored captures, and the store's use of its size and age budget."""
    from tocsin.cli.common import ensure_home
    from tocsin.pcap.store import CaptureStore

    store = CaptureStore(ensure_home())
    rows: list[dict[str, object]] = [
        {
            "capture": e.id,
            "name": e.name,
            "imported_at": e.imported_at,
            "first": e.first,
            "last": e.last,
            "packets": e.packets,
            "flows": e.flows,
            "size": e.size,
        }
        for e in store.list()
    ]
    print_rows(rows, output, title="Stored captures")
    usage = store.usage()
    stderr.print(
        f"{usage.captures} captures, {usage.bytes / 2**20:.1f} MiB of "
        f"{usage.max_bytes / 2**30:g} GiB; kept {usage.max_days:g} days "
        f"(oldest import {usage.oldest or '-'})"
    )


@app.command("prune")
@handle_errors
def prune(output: OutputOpt = None) -> None:
    """Apply the store's size and age budget now (the server does it after each import)."""
    from tocsin.cli.common import ensure_home
    from tocsin.pcap.store import CaptureStore

    removed = CaptureStore(ensure_home()).enforce()
    print_rows([e.to_dict() for e in removed], output, title="Removed captures")
    stderr.print(f"removed {len(removed)} captures")


@app.command("capture")
@handle_errors
def capture_cmd(
    interface: Annotated[str, typer.Option("--interface", "-i", help="The interface: eth0, lo...")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder of the rotating files (default: <home>/pcap/live)."
        ),
    ] = None,
    bpf: Annotated[str, typer.Option("--filter", help="A BPF filter: 'not port 22'.")] = "",
    rotate_seconds: Annotated[float, typer.Option(help="A new file after this long.")] = 300.0,
    rotate_mb: Annotated[float, typer.Option(help="A new file beyond this size (MiB).")] = 256.0,
    max_files: Annotated[int, typer.Option(help="Keep at most this many files (0: all).")] = 0,
    count: Annotated[int, typer.Option(help="Stop after this many packets (0: never).")] = 0,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0: never).")] = 0,
    import_: Annotated[
        bool,
        typer.Option("--import", help="Import each closed file into the lake and the store."),
    ] = False,
    promiscuous: Annotated[
        bool, typer.Option(help="Put the interface in promiscuous mode.")
    ] = False,
) -> None:
    """Capture live traffic into rotating pcap files (needs root or CAP_NET_RAW; Ctrl+C stops)."""
    import threading

    from tocsin.pcap.live import available, capture

    why = available()
    if why is not None:
        stderr.print(f"[yellow]{why}[/yellow]")
    settings = None
    if import_ or out is None:
        from tocsin.cli.common import ensure_home

        settings = ensure_home()
    folder = out or (settings.pcap_dir / "live" if settings else Path("."))
    imported: list[str] = []

    def closed(path: Path) -> None:
        stderr.print(f"closed {path.name}")
        if import_ and settings is not None:
            from tocsin.pcap.importer import import_capture

            result = import_capture(settings, path)
            imported.append(result.capture_id)
            stderr.print(f"  imported: {result.packets} packets, {result.flows} flows")

    stop = threading.Event()
    stderr.print(f"capturing on {interface} into {folder} (Ctrl+C stops)")
    try:
        stats = capture(
            interface,
            folder,
            bpf=bpf,
            rotate_seconds=rotate_seconds,
            rotate_bytes=int(rotate_mb * 2**20),
            max_files=max_files,
            stop=stop,
            on_rotate=closed,
            promiscuous=promiscuous,
            max_packets=count,
            duration=duration,
        )
    except KeyboardInterrupt:
        stop.set()
        return
    figures = stats.to_dict()
    stderr.print(
        f"{figures['packets']} packets in {figures['files']} files; dropped by the kernel "
        f"{figures['dropped_by_kernel']}, by the interface {figures['dropped_by_interface']}"
    )
    if figures["rotate_errors"]:
        stderr.print(
            f"[yellow]{figures['rotate_errors']} closed files were not imported (see the log); "
            f"they stay in {folder}[/yellow]"
        )
