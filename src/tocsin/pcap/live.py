"""Live capture from an interface into rotating pcap files, through libpcap.

libpcap (BSD licence; Debian's ``libpcap0.8``, present wherever tcpdump or tshark is) is loaded
with ctypes, so there is no compiled Python dependency: it compiles the BPF filter, the kernel
applies it, and ``pcap_stats`` gives the drop counters. Files are written as
``<interface>-<UTC time>-<n>.pcap`` with nanosecond times, under a ``.part`` name until they are
closed, so an importer watching the folder never reads a half-written file; ``on_rotate`` gets
each closed file (``tocsin pcap capture --import`` imports it at once).

Capturing needs privileges: root, or ``CAP_NET_RAW`` (``setcap cap_net_raw,cap_net_admin=eip``
on the interpreter), or a user and network namespace of one's own (``unshare -rn``, as the tests
do on the loopback interface).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tocsin.core.errors import InvalidInputError, TocsinError
from tocsin.pcap.writer import PcapWriter

PCAP_ERROR_PERM_DENIED = -8
PCAP_ERROR_NO_SUCH_DEVICE = -5
PCAP_TSTAMP_PRECISION_NANO = 1
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
ERRBUF = 256
POLL_SECONDS = 0.2  # the longest wait for packets: how soon a stop or an idle file is seen

logger = logging.getLogger(__name__)


class CaptureError(TocsinError):
    """Live capture could not start or stopped on an error (the message says why)."""


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _PktHdr(ctypes.Structure):
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


class _Stat(ctypes.Structure):
    _fields_ = [
        ("ps_recv", ctypes.c_uint),
        ("ps_drop", ctypes.c_uint),
        ("ps_ifdrop", ctypes.c_uint),
    ]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.POINTER(ctypes.c_ubyte), ctypes.POINTER(_PktHdr), ctypes.POINTER(ctypes.c_ubyte)
)


def _library() -> Any:
    name = ctypes.util.find_library("pcap")
    if name is None:
        for candidate in ("libpcap.so.0.8", "libpcap.so.1", "libpcap.so"):
            try:
                return _typed(ctypes.CDLL(candidate))
            except OSError:
                continue
        raise CaptureError("live capture needs libpcap (Debian: libpcap0.8)")
    return _typed(ctypes.CDLL(name))


def _typed(lib: Any) -> Any:
    lib.pcap_create.restype = ctypes.c_void_p
    lib.pcap_create.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    for name in (
        "pcap_set_snaplen",
        "pcap_set_promisc",
        "pcap_set_timeout",
        "pcap_set_buffer_size",
        "pcap_set_tstamp_precision",
    ):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
        getattr(lib, name).restype = ctypes.c_int
    lib.pcap_activate.argtypes = [ctypes.c_void_p]
    lib.pcap_activate.restype = ctypes.c_int
    lib.pcap_get_tstamp_precision.argtypes = [ctypes.c_void_p]
    lib.pcap_get_tstamp_precision.restype = ctypes.c_int
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_compile.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(_BpfProgram),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
    ]
    lib.pcap_compile.restype = ctypes.c_int
    lib.pcap_setfilter.argtypes = [ctypes.c_void_p, ctypes.POINTER(_BpfProgram)]
    lib.pcap_setfilter.restype = ctypes.c_int
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
    lib.pcap_dispatch.argtypes = [ctypes.c_void_p, ctypes.c_int, _HANDLER, ctypes.c_void_p]
    lib.pcap_dispatch.restype = ctypes.c_int
    lib.pcap_stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Stat)]
    lib.pcap_stats.restype = ctypes.c_int
    lib.pcap_datalink.argtypes = [ctypes.c_void_p]
    lib.pcap_datalink.restype = ctypes.c_int
    lib.pcap_breakloop.argtypes = [ctypes.c_void_p]
    lib.pcap_setnonblock.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p]
    lib.pcap_setnonblock.restype = ctypes.c_int
    lib.pcap_get_selectable_fd.argtypes = [ctypes.c_void_p]
    lib.pcap_get_selectable_fd.restype = ctypes.c_int
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    lib.pcap_statustostr.argtypes = [ctypes.c_int]
    lib.pcap_statustostr.restype = ctypes.c_char_p
    return lib


def available() -> str | None:
    """Why live capture cannot run here, or None when it can be tried."""
    try:
        _library()
    except CaptureError as exc:
        return exc.message
    if os.geteuid() != 0 and not _has_net_raw():
        return (
            "live capture needs privileges: run as root, or grant the interpreter "
            "CAP_NET_RAW (setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which python3)))"
        )
    return None


def _has_net_raw() -> bool:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 13))  # CAP_NET_RAW
    return False


@dataclass(slots=True)
class CaptureStats:
    """What a capture has done so far."""

    packets: int = 0
    bytes: int = 0
    files: int = 0
    received: int = 0  # packets the kernel handed to the filter (ps_recv)
    dropped: int = 0  # dropped by the kernel: the buffer was full (ps_drop)
    if_dropped: int = 0  # dropped by the interface or its driver (ps_ifdrop)
    rotate_errors: int = 0  # closed files that on_rotate failed on (logged; capture goes on)
    linktype: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters, JSON-ready."""
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "files": self.files,
            "received": self.received,
            "dropped_by_kernel": self.dropped,
            "dropped_by_interface": self.if_dropped,
            "rotate_errors": self.rotate_errors,
        }


class _Rotator:
    """The current output file; a new one by age or size, an idle one closed by age."""

    def __init__(
        self,
        out_dir: Path,
        interface: str,
        linktype: int,
        snaplen: int,
        rotate_seconds: float,
        rotate_bytes: int,
        max_files: int,
        on_rotate: Callable[[Path], None] | None,
        stats: CaptureStats,
    ) -> None:
        self.out_dir = out_dir
        self.interface = "".join(c if c.isalnum() or c in "-_." else "_" for c in interface)
        self.linktype = linktype
        self.snaplen = snaplen
        self.rotate_seconds = rotate_seconds
        self.rotate_bytes = rotate_bytes
        self.max_files = max_files
        self.on_rotate = on_rotate
        self.stats = stats
        self.sequence = 0
        self.closed: list[Path] = []
        self._handle: Any = None
        self._writer: PcapWriter | None = None
        self._part: Path | None = None
        self._opened = 0.0

    def write(self, ts_ns: int, data: bytes, wirelen: int) -> None:
        now = time.monotonic()
        writer = self._writer
        if writer is None or (
            (self.rotate_seconds and now - self._opened >= self.rotate_seconds)
            or (self.rotate_bytes and writer.bytes_written >= self.rotate_bytes)
        ):
            self.rotate()
            writer = self._writer
        assert writer is not None  # noqa: S101 - rotate() opened one
        writer.write(ts_ns, data, wirelen)

    def tick(self, now: float) -> None:
        """Close the file once it is old enough, even while no packet comes to rotate it."""
        if self._writer is not None and self.rotate_seconds:
            if now - self._opened >= self.rotate_seconds:
                self.close()

    def rotate(self) -> None:
        self.close()
        self.sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self._part = self.out_dir / f"{self.interface}-{stamp}-{self.sequence:05d}.pcap.part"
        self._handle = self._part.open("wb")
        self._writer = PcapWriter(self._handle, self.linktype, snaplen=self.snaplen)
        self._opened = time.monotonic()

    def close(self) -> None:
        if self._handle is None or self._part is None:
            return
        part, handle = self._part, self._handle
        self._handle = self._writer = self._part = None  # closed once, even if closing fails
        handle.close()
        final = part.with_suffix("")  # drop ".part"
        os.replace(part, final)
        self.stats.files += 1
        self.closed.append(final)
        if self.max_files and len(self.closed) > self.max_files:
            self.closed.pop(0).unlink(missing_ok=True)
        if self.on_rotate is not None:
            try:
                self.on_rotate(final)
            except Exception:
                # an importer failing on one file must not end the recording: the file stays
                self.stats.rotate_errors += 1
                logger.exception("on_rotate failed", extra={"path": str(final)})


def capture(
    interface: str,
    out_dir: Path,
    *,
    bpf: str = "",
    snaplen: int = 262_144,
    rotate_seconds: float = 300.0,
    rotate_bytes: int = 256 * 2**20,
    max_files: int = 0,
    stop: threading.Event | None = None,
    on_rotate: Callable[[Path], None] | None = None,
    promiscuous: bool = False,
    max_packets: int = 0,
    duration: float = 0.0,
    on_stats: Callable[[CaptureStats], None] | None = None,
) -> CaptureStats:
    """Capture until ``stop`` is set, ``max_packets`` are written or ``duration`` has passed."""
    lib = _library()
    errbuf = ctypes.create_string_buffer(ERRBUF)
    handle = lib.pcap_create(interface.encode(), errbuf)
    if not handle:
        raise CaptureError(f"cannot open {interface!r}: {errbuf.value.decode(errors='replace')}")
    stats = CaptureStats()
    try:
        lib.pcap_set_snaplen(handle, snaplen)
        lib.pcap_set_promisc(handle, int(promiscuous))
        lib.pcap_set_timeout(handle, 200)  # ms: dispatch returns at least this often
        lib.pcap_set_buffer_size(handle, 32 * 2**20)
        lib.pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_NANO)
        status = lib.pcap_activate(handle)
        if status < 0:
            detail = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
            if status == PCAP_ERROR_PERM_DENIED:
                raise CaptureError(
                    f"no permission to capture on {interface!r}: run as root or grant "
                    f"CAP_NET_RAW ({detail})"
                )
            if status == PCAP_ERROR_NO_SUCH_DEVICE:
                raise CaptureError(f"no such interface {interface!r} ({detail})")
            raise CaptureError(f"cannot capture on {interface!r}: {detail}")
        # nanoseconds were asked for, but a device may only give microseconds
        nanos = lib.pcap_get_tstamp_precision(handle) == PCAP_TSTAMP_PRECISION_NANO
        ts_scale = 1 if nanos else 1000
        if bpf:
            program = _BpfProgram()
            compiled = lib.pcap_compile(
                handle, ctypes.byref(program), bpf.encode(), 1, PCAP_NETMASK_UNKNOWN
            )
            if compiled < 0:
                detail = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
                raise InvalidInputError(f"bad BPF filter {bpf!r}: {detail}")
            try:
                if lib.pcap_setfilter(handle, ctypes.byref(program)) < 0:
                    detail = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
                    raise CaptureError(f"cannot set the filter: {detail}")
            finally:
                lib.pcap_freecode(ctypes.byref(program))
        stats.linktype = lib.pcap_datalink(handle)
        out_dir.mkdir(parents=True, exist_ok=True)
        rotator = _Rotator(
            out_dir,
            interface,
            stats.linktype,
            snaplen,
            rotate_seconds,
            rotate_bytes,
            max_files,
            on_rotate,
            stats,
        )

        failed: list[BaseException] = []

        def on_packet(_user: Any, header: Any, data: Any) -> None:
            # ctypes only prints what a callback raises and goes on: keep it (a full disk,
            # Ctrl+C) for the loop below to raise, and take no packet after it
            if failed or (max_packets and stats.packets >= max_packets):
                return
            try:
                head = header.contents
                caplen = int(head.caplen)
                # tv_usec holds nanoseconds when the handle has nanosecond precision
                ts_ns = int(head.ts.tv_sec) * 1_000_000_000 + int(head.ts.tv_usec) * ts_scale
                rotator.write(ts_ns, ctypes.string_at(data, caplen), int(head.len))
                stats.packets += 1
                stats.bytes += int(head.len)
            except BaseException as exc:  # raised again by the capture loop
                failed.append(exc)
            if failed or (max_packets and stats.packets >= max_packets):
                lib.pcap_breakloop(handle)

        callback = _HANDLER(on_packet)
        # non-blocking reads after select(): on Linux the read timeout does not expire while no
        # packet arrives, and the stop event must be seen within a fraction of a second
        if lib.pcap_setnonblock(handle, 1, errbuf) < 0:
            detail = errbuf.value.decode(errors="replace")
            raise CaptureError(f"cannot read {interface!r} without blocking: {detail}")
        descriptor = lib.pcap_get_selectable_fd(handle)
        started = time.monotonic()
        last_stats = started
        try:
            while not (stop is not None and stop.is_set()):
                if descriptor >= 0:
                    select.select([descriptor], [], [], POLL_SECONDS)
                else:
                    time.sleep(POLL_SECONDS / 4)
                got = lib.pcap_dispatch(handle, -1, callback, None)
                if failed:
                    raise failed[0]
                if got == -1:
                    detail = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
                    raise CaptureError(f"capture on {interface!r} failed: {detail}")
                if max_packets and stats.packets >= max_packets:
                    break
                now = time.monotonic()
                if duration and now - started >= duration:
                    break
                rotator.tick(now)
                if now - last_stats >= 1.0:
                    _update(lib, handle, stats)
                    last_stats = now
                    if on_stats is not None:
                        on_stats(stats)
        except OSError as exc:  # a full disk, a folder gone: from a write or a closing file
            failed.append(exc)
            raise _write_error(interface, out_dir, exc) from exc
        finally:
            _update(lib, handle, stats)
            try:
                rotator.close()
            except OSError as exc:
                if not failed:  # else the same trouble again: the first error says it
                    raise _write_error(interface, out_dir, exc) from exc
    finally:
        lib.pcap_close(handle)
    return stats


def _write_error(interface: str, out_dir: Path, exc: OSError) -> CaptureError:
    return CaptureError(f"cannot write the capture of {interface!r} into {out_dir}: {exc}")


def _update(lib: Any, handle: Any, stats: CaptureStats) -> None:
    counters = _Stat()
    if lib.pcap_stats(handle, ctypes.byref(counters)) == 0:
        stats.received = int(counters.ps_recv)
        stats.dropped = int(counters.ps_drop)
        stats.if_dropped = int(counters.ps_ifdrop)
