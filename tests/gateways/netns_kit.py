"""Commands in a loopback-only network namespace, run from outside it.

``Namespace.created()`` makes a network namespace whose only interface is ``lo`` (``ip netns
add``), so nothing started in it can send a packet off the machine; ``start`` and ``run`` put a
command inside it (``ip netns exec``) in its own process group, ``fetch`` reads a URL served
inside it with a short-lived reader started there. Every process dies with the test process
where ``setpriv`` exists; when the namespace is deleted, whatever still runs in it (only ours
can) is killed first. Linux and root only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Completed", "Namespace", "Service", "missing_tools"]

_PREFIX = "reelforge-gw-"
"""Our namespaces are named ``reelforge-gw-<pid of the test process>-<random>``."""
_IP = shutil.which("ip") or "/usr/sbin/ip"
_SETPRIV = shutil.which("setpriv")

# Run inside the namespace by the test process: GET one URL, body to stdout; exit 3 on an HTTP
# error status (body on stderr), 4 when nothing answers.
_FETCH = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as answer:
        sys.stdout.buffer.write(answer.read())
except urllib.error.HTTPError as exc:
    sys.stderr.write(f"HTTP {exc.code}: {exc.read()[:2000]!r}")
    sys.exit(3)
except OSError as exc:
    sys.stderr.write(repr(exc))
    sys.exit(4)
"""

# Run inside the namespace: poll one URL until it answers 200, for at most argv[2] seconds.
_PROBE = """
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1.0) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)
"""


def missing_tools() -> str | None:
    """Why namespaces cannot be made here, or ``None``."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "the gateway tests need Linux and root (they run in a network namespace)"
    if not Path(_IP).is_file():
        return "the gateway tests need iproute2's `ip` (for `ip netns`)"
    return None


def _no_proxies() -> dict[str, str]:
    return {
        name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")
    }


@dataclass
class Service:
    """A process started in the namespace, in its own process group, with output to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, size: int = 6000) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return f"--- {self.name} output ({self.log_path}) ---\n{text[-size:]}"

    def kill(self) -> None:
        """``kill -9`` of the whole process group."""
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds; always reaps the leader."""
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def _signal(self, signum: signal.Signals) -> None:
        # Only while the leader is unreaped: its id (the group's) cannot have been reused.
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)


@dataclass(frozen=True)
class Completed:
    """One finished command."""

    argv: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        command = " ".join(self.argv)
        return (
            f"{command}\nexit {self.returncode}\n--- stdout ---\n{self.stdout[-3000:]}\n"
            f"--- stderr ---\n{self.stderr[-4000:]}"
        )


@dataclass(frozen=True)
class Namespace:
    """A network namespace whose only interface is ``lo``, and commands run inside it."""

    name: str

    @classmethod
    @contextmanager
    def created(cls) -> Iterator[Namespace]:
        """A new namespace, named uniquely; deleted (its processes killed) on exit,
        whatever happened meanwhile. Meanwhile SIGTERM (a CI job canceled) interrupts the tests
        as Ctrl+C does, so the teardown still runs."""
        _forget_abandoned()
        name = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            _ip("netns", "add", name)
            namespace = cls(name)
            try:
                _ip("-n", name, "link", "set", "lo", "up")
                namespace.check_isolated()
                yield namespace
            finally:
                namespace.destroy()
        finally:
            signal.signal(signal.SIGTERM, previous)

    def argv(self, command: Sequence[str | os.PathLike[str]]) -> list[str]:
        """``command`` run inside the namespace (dying with the test process where possible)."""
        inner = [str(part) for part in command]
        if _SETPRIV is not None:
            inner = [_SETPRIV, "--pdeathsig", "KILL", "--", *inner]
        return [_IP, "netns", "exec", self.name, *inner]

    def check_isolated(self) -> None:
        """Fail unless ``lo`` is the namespace's only interface (so nothing can leave it)."""
        links = _ip("-n", self.name, "-o", "link", "show").splitlines()
        names = sorted(line.split(":")[1].strip().split("@")[0] for line in links if line.strip())
        assert names == ["lo"], f"namespace {self.name} has interfaces {names}, not just lo"

    def start(
        self,
        name: str,
        command: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> Service:
        """Start ``command`` in the background, in its own process group."""
        with log_path.open("wb") as sink:
            process = subprocess.Popen(  # noqa: S603  # fixed arguments of our own
                self.argv(command),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return Service(name=name, process=process, log_path=log_path)

    def run(
        self,
        command: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        timeout: float,
    ) -> Completed:
        """Run ``command`` to its end; its whole process group is killed if it overruns
        ``timeout``, which fails the test."""
        argv = self.argv(command)
        process = subprocess.Popen(  # noqa: S603  # fixed arguments of our own
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            late = Completed(argv, process.returncode, _text(stdout), _text(stderr))
            raise AssertionError(
                f"did not exit on its own within {timeout:g} s:\n{late.describe()}"
            ) from None
        except BaseException:  # the test's own timeout, or Ctrl+C: leave nothing running
            _kill_group(process)
            process.communicate()
            raise
        return Completed(argv, process.returncode, _text(stdout), _text(stderr))

    def fetch(self, url: str, *, timeout: float = 30.0) -> bytes:
        """GET ``url`` from inside the namespace; fail on anything but a 2xx answer."""
        done = self.run(
            [sys.executable, "-I", "-c", _FETCH, url, str(timeout)],
            env=_no_proxies(),
            timeout=timeout + 30,
        )
        assert done.returncode == 0, f"GET {url} inside {self.name} failed: {done.stderr}"
        return done.stdout.encode("utf-8")

    def fetch_json(self, url: str) -> Any:
        return json.loads(self.fetch(url))

    def wait_for(self, url: str, service: Service, timeout: float) -> None:
        """Return once ``url`` answers 200; fail early if ``service`` exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert service.running(), f"{service.name} exited while starting\n{service.tail()}"
            probe = self.run(
                [sys.executable, "-I", "-c", _PROBE, url, "2"], env=_no_proxies(), timeout=60
            )
            if probe.returncode == 0:
                return
        raise AssertionError(f"{service.name} not up after {timeout:g} s\n{service.tail()}")

    def pids(self) -> list[int]:
        """Every process inside the namespace (all of them ours)."""
        return [int(pid) for pid in _ip("netns", "pids", self.name, check=False).split()]

    def destroy(self) -> None:
        """Kill whatever still runs inside, then delete the namespace."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        _ip("netns", "del", self.name)


def _forget_abandoned() -> None:
    """Delete the names of namespaces left by a test session that was killed (SIGKILL leaves
    no time to tidy; its processes died with it): ours by name, their creator gone, empty."""
    for line in _ip("netns", "list").splitlines():
        name = line.split(" ")[0]
        creator = name.removeprefix(_PREFIX).split("-")[0]
        if not name.startswith(_PREFIX) or not creator.isdigit():
            continue
        if Path(f"/proc/{creator}").exists() or Namespace(name).pids():
            continue
        _ip("netns", "del", name, check=False)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(  # noqa: S603  # iproute2 with fixed arguments
        [_IP, *args], capture_output=True, text=True, check=False, timeout=30
    )
    if check and done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:  # unreaped: the group id is still ours
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
