"""Run a profile kit on a device over SSH (``--remote ssh://user@host[:port]``) with the system ssh/scp.

Copy the kit to a fresh temporary directory on the device, run its runner there, fetch
``timings.json`` back into the kit, remove the remote directory. Non-interactive
(``BatchMode``): keys must already be set up; an unreachable host or a failing runner is a
UserError carrying ssh's own last line.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hynas.errors import UserError

URL = re.compile(r"^ssh://(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d+))?/?$")
OPTION = re.compile(r"^[A-Za-z]+=[^\s]+$")


@dataclass(frozen=True)
class Remote:
    host: str
    user: str | None
    port: int
    options: tuple[str, ...] = ()
    python: str = "python3"
    timeout_s: float = 3600.0

    @property
    def dest(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def _opts(self, port_flag: str) -> list[str]:
        out = [port_flag, str(self.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        for o in self.options:
            out += ["-o", o]
        return out

    def _run(self, cmd: list[str], what: str) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            raise UserError(f"--remote needs the system `{cmd[0]}` command, which is not installed here.") from None
        except subprocess.TimeoutExpired:
            raise UserError(f"--remote {self.dest}: {what} did not finish within {self.timeout_s:.0f} s.") from None
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
            raise UserError(f"--remote ssh://{self.dest}:{self.port}: {what} failed: {last}")
        return p.stdout

    def ssh(self, command: str, what: str) -> str:
        return self._run(["ssh", *self._opts("-p"), self.dest, command], what)

    def run_kit(self, kit: Path) -> Path:
        """Copy ``kit`` over, run it, fetch ``timings.json`` into ``kit``; returns its path."""
        tmp = self.ssh("mktemp -d", "connecting (mktemp -d on the device)").strip()
        if not tmp.startswith("/"):
            raise UserError(f"--remote {self.dest}: mktemp -d answered {tmp!r}, not a directory.")
        try:
            self._run(["scp", "-r", "-q", *self._opts("-P"), str(kit), f"{self.dest}:{tmp}/kit"], "copying the kit")
            remote_kit = shlex.quote(f"{tmp}/kit")
            self.ssh(f"cd {remote_kit} && {shlex.quote(self.python)} run_kit.py", "running the kit")
            out = kit / "timings.json"
            self._run(["scp", "-q", *self._opts("-P"), f"{self.dest}:{tmp}/kit/timings.json", str(out)],
                      "fetching timings.json")
            return out
        finally:
            try:
                self.ssh(f"rm -rf {shlex.quote(tmp)}", "removing the remote copy")
            except UserError:
                pass


def parse_remote(url: str, options: list[str] | None = None, python: str = "python3") -> Remote:
    m = URL.match(url)
    if not m:
        raise UserError(f"--remote '{url}' is not of the form ssh://[user@]host[:port].")
    for o in options or []:
        if not OPTION.match(o):
            raise UserError(f"--ssh-option '{o}' is not of the form Key=Value (an ssh -o option).")
    port = int(m.group("port") or 22)
    if not 1 <= port <= 65535:
        raise UserError(f"--remote '{url}': port {port} is out of range 1..65535.")
    return Remote(m.group("host").strip("[]"), m.group("user"), port, tuple(options or ()), python)
