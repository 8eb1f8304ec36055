"""A real one-node Slurm in a temporary directory, for the Slurm tests: Debian's slurm-wlm and munge.

``LocalSlurm(directory)`` writes its own munge key, slurm.conf (free ports, checked first), state and spool
directories, starts munged, slurmctld and slurmd in the foreground as child processes and stops each of them
by its pid. Clients find it through ``env()`` (SLURM_CONF). ``install()`` installs the packages with apt-get
where the tests run as root; otherwise ``missing()`` says why the tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")


def missing() -> str | None:
    """Why a local Slurm cannot be started here, or None."""
    absent = [n for n in (*DAEMONS, *CLIENTS) if _which(n) is None]
    if absent:
        return f"Slurm is not installed ({', '.join(absent)} missing; apt-get install slurm-wlm munge as root)"
    if os.geteuid() != 0:
        return "a local Slurm's slurmd runs jobs as their users: the test needs root"
    return None


def install(timeout: float = 600) -> None:
    """apt-get install slurm-wlm munge, as root where they are missing (CI); nothing otherwise."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    if all(_which(n) for n in (*DAEMONS, *CLIENTS)):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=timeout, capture_output=True, check=False)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "slurm-wlm", "munge"],
        env=env,
        timeout=timeout,
        capture_output=True,
        check=False,
    )


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (bound once to check, then let go)."""
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


class LocalSlurm:
    def __init__(self, directory: Path, cpus: int | None = None) -> None:
        self.dir = Path(directory)
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.procs: dict[str, subprocess.Popen] = {}
        self.conf = self.dir / "slurm.conf"
        self.socket = self.dir / "munge" / "munge.socket.2"

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60) -> None:
        (self.dir / "munge").mkdir(mode=0o700, parents=True)
        for sub in ("state", "spool", "log"):
            (self.dir / sub).mkdir(mode=0o755)
        key = self.dir / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        ctld, slurmd = free_ports(2)
        memory = 1024
        self.conf.write_text(
            f"""ClusterName=mnisttui
SlurmctldHost={self.host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
SlurmctldPort={ctld}
SlurmdPort={slurmd}
StateSaveLocation={self.dir / "state"}
SlurmdSpoolDir={self.dir / "spool"}
SlurmctldPidFile={self.dir / "slurmctld.pid"}
SlurmdPidFile={self.dir / "slurmd.pid"}
SlurmctldLogFile={self.dir / "log" / "slurmctld.log"}
SlurmdLogFile={self.dir / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=30
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
        )
        self._spawn(
            "munged",
            [
                "-F",
                f"--socket={self.socket}",
                f"--key-file={key}",
                f"--pid-file={self.dir / 'munge' / 'munged.pid'}",
                f"--log-file={self.dir / 'log' / 'munged.log'}",
                f"--seed-file={self.dir / 'munge' / 'munged.seed'}",
                "--force",
            ],
        )
        self._until(lambda: self.socket.exists(), timeout, "munged made no socket")
        self._spawn("slurmctld", ["-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["-D", "-f", str(self.conf), "-N", self.host])
        self._until(self._idle, timeout, "the node never became idle")

    def _spawn(self, name: str, args: list[str]) -> None:
        env = dict(os.environ, **self.env())
        with open(self.dir / "log" / f"{name}.out", "ab") as out:
            self.procs[name] = subprocess.Popen([_which(name) or name, *args], stdout=out, stderr=out, env=env)

    def _idle(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} ended ({proc.returncode}): {self.logs()}")
        result = self.run("sinfo", "-h", "-o", "%T", check=False)
        return result.returncode == 0 and result.stdout.strip().rstrip("*") in ("idle", "mixed", "allocated")

    def _until(self, ok, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ok():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {self.logs()}")
            time.sleep(0.2)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [_which(args[0]) or args[0], *args[1:]],
            capture_output=True,
            text=True,
            env=dict(os.environ, **self.env()),
            timeout=30,
            check=check,
        )

    def logs(self) -> str:
        text = []
        for path in sorted((self.dir / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-8:]
            text.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(text)

    def stop(self) -> None:
        """Every daemon this started, by its pid: SIGTERM, then SIGKILL after a while."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
