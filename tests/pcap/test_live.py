"""Live capture on the loopback interface of a network namespace of the test's own.

``unshare -rn`` gives the child process a user and network namespace where it holds
CAP_NET_RAW, so the test needs no root and never sees the host's traffic.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.pcap.conftest import read_flows
from tocsin.pcap import live

# The child starts capture() in a thread, sends 40 UDP datagrams to each of 127.0.0.1 ports 9999
# and 9998, waits, then sets the stop event (unless the capture is to end by itself) and prints
# what happened as JSON. ``max_file_size`` limits the size of the files it may write.
CHILD = textwrap.dedent(
    """
    import json, resource, signal, socket, subprocess, sys, threading, time
    from pathlib import Path
    from tocsin.core.errors import TocsinError
    from tocsin.pcap.live import capture

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    config = json.loads(sys.argv[1])
    if config["max_file_size"]:  # a disk that fills up: writes past it fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = config["max_file_size"]
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    stop = threading.Event()
    rotated, result = [], {}

    def on_rotate(path):
        rotated.append(str(path))
        if config["fail_rotate"]:
            raise RuntimeError("the importer is broken")

    def run():
        try:
            stats = capture("lo", Path(config["out"]), stop=stop, on_rotate=on_rotate,
                            **config["kwargs"])
            result["stats"] = stats.to_dict()
        except TocsinError as exc:
            result["error"] = exc.message

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.5)
    result["sent_at"] = time.time_ns()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(40):
        sender.sendto(b"k" * 100, ("127.0.0.1", 9999))
        sender.sendto(b"n" * 100, ("127.0.0.1", 9998))
        time.sleep(config["gap"])
    time.sleep(config["settle"])
    result["closed_before_stop"] = len(rotated)
    began = time.monotonic()
    if config["stop"]:
        stop.set()
    worker.join(10)
    result["stopped_in"] = time.monotonic() - began
    result["rotated"] = rotated
    print(json.dumps(result))
    """
)


def run_child(
    tmp_path: Path,
    *,
    gap: float = 0.0,
    settle: float = 0.4,
    stop: bool = True,
    fail_rotate: bool = False,
    max_file_size: int = 0,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run CHILD in a namespace of its own with ``capture(**kwargs)``; what it reported."""
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
    config = {
        "out": str(out),
        "gap": gap,
        "settle": settle,
        "stop": stop,
        "fail_rotate": fail_rotate,
        "max_file_size": max_file_size,
        "kwargs": kwargs,
    }
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, str(script), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    result["out"] = out
    result["stderr"] = done.stderr
    return result


def captured(result: dict[str, Any]) -> list[Path]:
    return sorted(Path(result["out"]).glob("lo-*.pcap"))


def test_filtered_capture_rotates_by_size(tmp_path: Path) -> None:
    result = run_child(tmp_path, bpf="udp port 9999", rotate_bytes=3000, rotate_seconds=0)
    stats = result["stats"]
    assert stats["packets"] == 40
    assert stats["files"] >= 2
    assert stats["dropped_by_kernel"] == 0 and stats["rotate_errors"] == 0
    files = captured(result)
    assert [str(p) for p in files] == sorted(result["rotated"])
    assert not list(Path(result["out"]).glob("*.part"))
    total = 0
    for path in files:
        # a file is closed at the first packet past the limit: one frame (16 + 142 bytes) over
        assert path.stat().st_size <= 3000 + 16 + 142
        flows, read = read_flows(path)
        total += read.packets
        assert {f["destination.port"] for f in flows} == {9999}
    assert total == 40
    assert result["stopped_in"] < 2.0


def test_capture_rotates_by_time_and_closes_idle_files(tmp_path: Path) -> None:
    result = run_child(
        tmp_path, bpf="udp", rotate_seconds=0.3, rotate_bytes=0, gap=0.02, settle=1.2
    )
    stats = result["stats"]
    assert stats["packets"] == 80
    assert stats["files"] >= 2
    # the last file was closed by its age while no packet came, before the stop
    assert result["closed_before_stop"] == stats["files"]
    assert sum(read_flows(p)[1].packets for p in captured(result)) == 80


def test_max_packets_ends_the_capture_with_true_times(tmp_path: Path) -> None:
    result = run_child(tmp_path, bpf="udp port 9998", max_packets=5, stop=False)
    assert result["stats"]["packets"] == 5
    (path,) = captured(result)
    flows, read = read_flows(path)
    assert read.packets == 5
    assert {f["destination.port"] for f in flows} == {9998}
    # the packet times read back as the wall-clock time of sending (not 1000 times off)
    assert read.first_ts is not None
    assert abs(read.first_ts - result["sent_at"]) < 5_000_000_000


def test_max_files_keeps_the_newest(tmp_path: Path) -> None:
    result = run_child(tmp_path, bpf="udp", rotate_bytes=1000, rotate_seconds=0, max_files=2)
    assert result["stats"]["files"] >= 4
    assert [str(p) for p in captured(result)] == sorted(result["rotated"])[-2:]


def test_a_failing_on_rotate_is_counted_and_capture_goes_on(tmp_path: Path) -> None:
    result = run_child(
        tmp_path, bpf="udp port 9999", rotate_bytes=2000, rotate_seconds=0, fail_rotate=True
    )
    stats = result["stats"]
    assert stats["packets"] == 40
    assert stats["rotate_errors"] == stats["files"] >= 2
    assert sum(read_flows(p)[1].packets for p in captured(result)) == 40  # the files stay
    assert "RuntimeError: the importer is broken" in result["stderr"]


def test_a_failed_write_ends_the_capture_and_says_why(tmp_path: Path) -> None:
    result = run_child(tmp_path, bpf="udp", rotate_bytes=0, rotate_seconds=0, max_file_size=4096)
    out = Path(result["out"])
    assert result["error"].startswith(f"cannot write the capture of 'lo' into {out}: ")
    assert "File too large" in result["error"]
    assert "stats" not in result


def test_bad_filter_is_refused_clearly(tmp_path: Path) -> None:
    result = run_child(tmp_path, bpf="udp port banana")
    assert result["error"].startswith("bad BPF filter 'udp port banana': ")
    assert not Path(result["out"]).exists()  # nothing made for a capture that never started


def test_without_privileges_says_what_to_do(tmp_path: Path) -> None:
    try:
        live._library()
    except live.CaptureError as exc:
        pytest.skip(exc.message)
    if live.available() is not None:
        assert "CAP_NET_RAW" in str(live.available())
        with pytest.raises(live.CaptureError, match="run as root or grant CAP_NET_RAW"):
            live.capture("lo", tmp_path / "out", duration=0.1)
        return
    # root or CAP_NET_RAW here: ask again as nobody
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("this process may capture and cannot drop privileges (setpriv, util-linux)")
    code = (
        "from pathlib import Path\n"
        "from tocsin.pcap.live import CaptureError, available, capture\n"
        "print(available())\n"
        "try:\n"
        "    capture('lo', Path('/nonexistent/out'), duration=0.1)\n"
        "except CaptureError as exc:\n"
        "    print(exc.message)\n"
    )
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    done = subprocess.run(
        [*nobody, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(Path(live.__file__).parents[2])},
    )
    assert done.returncode == 0, done.stderr
    why, error = done.stdout.splitlines()
    assert "run as root, or grant the interpreter CAP_NET_RAW" in why
    assert error.startswith("no permission to capture on 'lo': run as root or grant CAP_NET_RAW")
