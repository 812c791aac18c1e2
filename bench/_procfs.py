"""What Linux's /proc tells about the benchmarks' servers: their process trees, memory, and how a PostgreSQL cluster's
CPU divides among the processes it serves (each backend followed to the client holding the other end of its TCP
connection). Linux only; a process that is gone or unreadable is skipped, never an error."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Where each PostgreSQL process's CPU goes when no TCP client holds it: the postmaster, checkpointer, WAL writer,
# autovacuum and the like, and backends of clients over the Unix socket.
BACKGROUND = "background"
# Backends that exited during the window: the postmaster collected their CPU when it reaped them (all of it, some
# perhaps from before the window).
EXITED = "exited"
# Backends of a TCP client that is none of the named processes.
OTHER = "other"


@dataclass(frozen=True)
class Stat:
    parent: int
    # User + system CPU of the process itself, in clock ticks.
    ticks: int
    # Of its children that exited and were waited for.
    reaped_ticks: int


def parse_stat(text: str) -> Stat:
    """The fields of /proc/<pid>/stat this module uses; the command name may hold spaces and parentheses."""
    fields = text[text.rindex(")") + 2 :].split()
    return Stat(
        parent=int(fields[1]),
        ticks=int(fields[11]) + int(fields[12]),
        reaped_ticks=int(fields[13]) + int(fields[14]),
    )


def all_stats() -> dict[int, Stat]:
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    stats[int(name)] = parse_stat(stat.read())
            except (OSError, ValueError, IndexError):
                continue
    return stats


def tree(root: int, stats: Mapping[int, Stat]) -> list[int]:
    """`root` and its live descendants."""
    if root not in stats:
        return []
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def machine_busy_seconds() -> float | None:
    """CPU time the whole machine has been busy (every core, every tenant), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def tree_seconds(root: int, stats: Mapping[int, Stat], *, reaped: bool = False) -> float | None:
    """CPU seconds a process and its live descendants have used (None when it is gone); `reaped`: with those of the
    children they waited for (a server that forks a process per connection)."""
    pids = tree(root, stats)
    ticks = sum(stats[pid].ticks + (stats[pid].reaped_ticks if reaped else 0) for pid in pids)
    return ticks / _CLOCK_TICKS if pids else None


def _status_kb(pid: int, fields: Iterable[str]) -> dict[str, int]:
    wanted, found = set(fields), {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in wanted:
                    found[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def memory_mb(root: int) -> dict[str, float | int] | None:
    """Memory of a process tree in MB (10^6 bytes): resident now (VmRSS), at its peak (VmHWM), and its proportional
    share (PSS: memory shared between processes, such as PostgreSQL's shared buffers, divided among them), with how
    many processes. RSS summed over a tree counts shared memory once per process, and the sum of the peaks may exceed
    any moment's total: for a tree of one process both are exact."""
    pids = tree(root, all_stats())
    if not pids:
        return None
    rss = peak = pss = 0
    for pid in pids:
        kb = _status_kb(pid, ("VmRSS", "VmHWM"))
        rss += kb.get("VmRSS", 0)
        peak += kb.get("VmHWM", 0)
        pss += _pss_kb(pid)
    return {
        "rss_mb": _mb(rss),
        "peak_rss_mb": _mb(peak),
        "pss_mb": _mb(pss),
        "processes": len(pids),
    }


def _mb(kb: int) -> float:
    return round(kb * 1024 / 1e6, 1)


# --- TCP connections and who holds them ---------------------------------------------------------------------------


def parse_tcp_table(text: str) -> dict[int, tuple[int, int]]:
    """Established sockets of a /proc/net/tcp or tcp6 table: inode -> (local port, remote port)."""
    sockets = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != "01":  # 01: ESTABLISHED
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        sockets[int(fields[9])] = (local_port, remote_port)
    return sockets


def _tcp_sockets() -> dict[int, tuple[int, int]]:
    sockets: dict[int, tuple[int, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as text:
                sockets.update(parse_tcp_table(text.read()))
        except OSError:
            continue
    return sockets


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def owner(pid: int, named: Mapping[int, str], stats: Mapping[int, Stat]) -> str | None:
    """The name of the nearest named process at or above `pid` (the services are children of the benchmark: each
    belongs to itself, not to the benchmark)."""
    seen = set()
    while pid in stats and pid not in seen:
        if pid in named:
            return named[pid]
        seen.add(pid)
        pid = stats[pid].parent
    return named.get(pid)


def backend_clients(
    backends: Iterable[int], server_port: int, clients: Mapping[str, int], stats: Mapping[int, Stat]
) -> dict[int, str]:
    """The named client (a key of `clients`, whose values are root pids) each backend serves over TCP on
    `server_port`; OTHER for a TCP client that is none of them, BACKGROUND without a TCP client."""
    sockets = _tcp_sockets()
    by_ports = {ports: inode for inode, ports in sockets.items()}
    named = {pid: name for name, pid in clients.items()}
    owner_of = {}
    for root in clients.values():
        for pid in tree(root, stats):
            name = owner(pid, named, stats)
            for inode in socket_inodes(pid):
                owner_of[inode] = name or OTHER
    found = {}
    for pid in backends:
        found[pid] = BACKGROUND
        for inode in socket_inodes(pid):
            ports = sockets.get(inode)
            if ports is None or ports[0] != server_port:
                continue
            # The client's end of the same connection: its local port is the backend's remote one.
            peer = by_ports.get((ports[1], server_port))
            found[pid] = owner_of.get(peer, OTHER) if peer is not None else OTHER
    return found


class BackendCpu:
    """CPU a PostgreSQL cluster used during a window, divided by the client each backend served (gateway,
    provisioner, ...), with BACKGROUND for the cluster's own processes and EXITED for backends that ended."""

    def __init__(self, postmaster: int, server_port: int, clients: Mapping[str, int]) -> None:
        self._postmaster, self._port, self._clients = postmaster, server_port, dict(clients)
        stats = all_stats()
        self._start = {pid: stats[pid].ticks for pid in tree(postmaster, stats)}
        self._reaped = stats[postmaster].reaped_ticks if postmaster in stats else 0

    def seconds(self) -> dict[str, float]:
        stats = all_stats()
        if self._postmaster not in stats:
            return {}
        pids = tree(self._postmaster, stats)
        # Read before the sockets are (which takes a while), so the window ends when the figures were taken.
        used = {pid: stats[pid].ticks - self._start.get(pid, 0) for pid in pids}
        reaped = stats[self._postmaster].reaped_ticks - self._reaped
        owners = backend_clients([p for p in pids if p != self._postmaster], self._port, self._clients, stats)
        by_client: dict[str, int] = {EXITED: max(reaped, 0)}
        for pid, ticks in used.items():
            name = owners.get(pid, BACKGROUND)
            by_client[name] = by_client.get(name, 0) + max(ticks, 0)
        return {name: ticks / _CLOCK_TICKS for name, ticks in by_client.items()}
