"""Helpers for the dissector tests: tshark as an independent reader of the shared captures."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

TSHARK_MISSING = "tshark is absent: install the Debian/Ubuntu package 'tshark'"

Streams = Callable[[Path, int], tuple[bytes, bytes]]
Fields = Callable[..., list[list[str]]]


def _tshark(*args: str) -> str:
    return subprocess.run(
        ["tshark", *args], capture_output=True, text=True, check=True, timeout=300
    ).stdout


@pytest.fixture(scope="session")
def tshark() -> str:
    """The tshark executable; skip when it is not installed."""
    found = shutil.which("tshark")
    if found is None:
        pytest.skip(TSHARK_MISSING)
    return found


@pytest.fixture(scope="session")
def tcp_stream(tshark: str) -> Streams:
    """Both directions of TCP stream N of a capture, reassembled by tshark's follow."""

    def follow(path: Path, index: int) -> tuple[bytes, bytes]:
        out = _tshark("-r", str(path), "-q", "-z", f"follow,tcp,raw,{index}")
        client, server = bytearray(), bytearray()
        started = False
        for line in out.splitlines():
            if line.startswith("Node 1:"):
                started = True
                continue
            if not started or not line.strip() or line.startswith("="):
                continue
            target = server if line.startswith("\t") else client
            target += bytes.fromhex(line.strip())
        return bytes(client), bytes(server)

    return follow


@pytest.fixture(scope="session")
def tshark_fields(tshark: str) -> Fields:
    """Rows of tab-separated fields tshark prints for the packets a display filter keeps."""

    def fields(path: Path, display_filter: str, *names: str) -> list[list[str]]:
        args = ["-r", str(path), "-Y", display_filter, "-T", "fields"]
        for name in names:
            args += ["-e", name]
        return [line.split("\t") for line in _tshark(*args).splitlines()]

    return fields


@pytest.fixture(scope="session")
def tshark_frames(tshark: str) -> Callable[[Path, str], list[bytes]]:
    """The raw frames (link header included) a display filter keeps."""

    def frames(path: Path, display_filter: str) -> list[bytes]:
        packets = json.loads(_tshark("-r", str(path), "-Y", display_filter, "-T", "json", "-x"))
        return [bytes.fromhex(p["_source"]["layers"]["frame_raw"][0]) for p in packets]

    return frames


@pytest.fixture(scope="session")
def tshark_export(tshark: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A folder holding the objects tshark exports from a capture (``http``, ``imf``...)."""

    def export(path: Path, protocol: str) -> Path:
        folder = tmp_path_factory.mktemp(f"export-{protocol}")
        _tshark("-r", str(path), "-q", "--export-objects", f"{protocol},{folder}")
        return folder

    return export
