"""Live capture on the loopback interface of a network namespace of the test's own.

``unshare -rn`` gives the child process a user and network namespace where it holds
CAP_NET_RAW, so the test needs no root and never sees the host's traffic.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.pcap.conftest import read_flows
from tocsin.core.errors import InvalidInputError
from tocsin.pcap import live

CHILD = textwrap.dedent(
    """
    import json, socket, subprocess, sys, threading, time
    from pathlib import Path
    from tocsin.core.errors import TocsinError
    from tocsin.pcap.live import capture

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    out, bpf, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    stop = threading.Event()
    rotated, result = [], {}

    def run():
        try:
            kwargs = {"rotate_bytes": 3000, "rotate_seconds": 0} if mode == "size" else {}
            if mode == "time":
                kwargs = {"rotate_seconds": 0.3, "rotate_bytes": 0}
            result["stats"] = capture("lo", out, bpf=bpf, stop=stop, on_rotate=rotated.append,
                                      **kwargs).to_dict()
        except TocsinError as exc:
            result["error"] = exc.message

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.4)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(40):
        sender.sendto(b"k" * 100, ("127.0.0.1", 9999))
        sender.sendto(b"n" * 100, ("127.0.0.1", 9998))
        if mode == "time":
            time.sleep(0.02)
    time.sleep(0.4)
    began = time.monotonic()
    stop.set()
    worker.join(5)
    result["stopped_in"] = time.monotonic() - began
    result["rotated"] = [str(p) for p in rotated]
    print(json.dumps(result))
    """
)


def run_child(tmp_path: Path, bpf: str, mode: str) -> dict[str, object]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is absent (Debian package util-linux)")
    try:
        live._library()
    except live.CaptureError as exc:
        pytest.skip(exc.message)
    if shutil.which("ip") is None:
        pytest.skip("ip is absent (Debian package iproute2)")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no user and network namespaces here: {probe.stderr.strip()}")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "out"
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, str(script), str(out), bpf, mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    result["out"] = out
    return result


def test_filtered_capture_rotates_by_size(tmp_path: Path) -> None:
    result = run_child(tmp_path, "udp port 9999", "size")
    stats = result["stats"]
    assert isinstance(stats, dict)
    assert stats["packets"] == 40
    assert stats["files"] >= 2
    assert stats["dropped_by_kernel"] == 0
    files = sorted(Path(str(result["out"])).glob("lo-*.pcap"))
    assert [str(p) for p in files] == sorted(str(p) for p in result["rotated"])  # type: ignore[union-attr]
    assert not list(Path(str(result["out"])).glob("*.part"))
    total = 0
    for path in files:
        flows, read = read_flows(path)
        total += read.packets
        assert {f["destination.port"] for f in flows} == {9999}
    assert total == 40
    assert float(result["stopped_in"]) < 2.0  # type: ignore[arg-type]


def test_capture_rotates_by_time(tmp_path: Path) -> None:
    result = run_child(tmp_path, "udp", "time")
    stats = result["stats"]
    assert isinstance(stats, dict)
    assert stats["packets"] == 80
    assert stats["files"] >= 2


def test_bad_filter_is_refused_clearly(tmp_path: Path) -> None:
    result = run_child(tmp_path, "udp port banana", "size")
    assert "bad BPF filter 'udp port banana'" in str(result["error"])


def test_without_privileges_says_what_to_do(tmp_path: Path) -> None:
    try:
        live._library()
    except live.CaptureError as exc:
        pytest.skip(exc.message)
    if live.available() is None:
        pytest.skip("this process may capture (root or CAP_NET_RAW): nothing to refuse")
    with pytest.raises((live.CaptureError, InvalidInputError), match="root|CAP_NET_RAW|permission"):
        live.capture("lo", tmp_path, duration=0.1)
