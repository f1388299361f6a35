"""The live processes of a local Serve app (replicas, proxy, controller): for CPU/RSS sampling and fault drills.

Reads Ray's actor table from the GCS of the Ray runtime this process is connected to (no dashboard needed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROLES = {"ProxyActor": "proxy", "ServeController": "controller"}


@dataclass(frozen=True)
class ServeProcess:
    role: str        # "Ingress", "Encoder", "Fusion", "Ranker", "proxy" or "controller"
    name: str        # the Ray actor name (unique per replica)
    actor_id: str
    pid: int


def serve_processes(app: str = "crossrec") -> list[ServeProcess]:
    """Alive actors of ``app``'s replicas plus Serve's proxy and controller, replicas first, sorted by role."""
    import ray

    out = []
    for actor_id, a in ray._private.state.actors().items():
        if a.get("State") != "ALIVE" or not a.get("Pid"):
            continue
        cls = str(a.get("ActorClassName", ""))
        if cls.startswith(f"ServeReplica:{app}:"):
            role = cls.split(":", 2)[2]
        elif cls in ROLES:
            role = ROLES[cls]
        else:
            continue
        out.append(ServeProcess(role, str(a.get("Name", "")), actor_id, int(a["Pid"])))
    return sorted(out, key=lambda p: (p.role in ROLES.values(), p.role, p.name))


def replicas_of(role: str, app: str = "crossrec") -> list[ServeProcess]:
    return [p for p in serve_processes(app) if p.role == role]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads, from /proc); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MiB (from /proc; None when it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def direct_ingress_urls(low: int, high: int, app: str = "crossrec", timeout_s: float = 30) -> list[str]:
    """``http://127.0.0.1:<port>`` of each HTTP entry replica (Ingress or fused Service) of ``app`` listening
    directly in ``[low, high]`` (Serve's direct ingress), waiting up to ``timeout_s`` for them to listen."""
    import time

    import psutil

    deadline = time.time() + timeout_s
    while True:
        ports = []
        for proc in serve_processes(app):
            if proc.role not in ("Ingress", "Service"):
                continue
            try:
                conns = psutil.Process(proc.pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            ports += [c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and low <= c.laddr.port <= high]
        if ports or time.time() > deadline:
            break
        time.sleep(0.5)
    if not ports:
        raise RuntimeError(f"no entry replica of {app!r} listens on a port in [{low}, {high}] (direct ingress)")
    return [f"http://127.0.0.1:{p}" for p in sorted(set(ports))]
