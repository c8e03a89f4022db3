"""The sandbox's fork server: the process that runs untrusted programs, one child each.

:mod:`phi1.sandbox.execute` starts one of these per worker as ``python -I -B forkserver.py``
(stdlib only, no phi1 import: it starts fast and holds nothing of the caller's) and talks
to it over stdin/stdout in frames: a 4-byte big-endian length, then UTF-8 JSON. JSON, not
pickle, so even a subverted server cannot run code in the caller.

At start the server enters the isolation the kernel allows (see the layers below), probes
what a child can apply, and answers ``{"hello": ..., "isolation": {...}}``. Then, for each
request ``{"program": str, "timeout": s, ...limits}``, it empties its working directory,
forks, and in the child:

1. ``setsid`` (its own process group), parent-death signal, stdin ``/dev/null``, stdout and
   stderr to pipes the server drains and caps, the verdict pipe on fd 3, every other fd
   closed, the working directory entered, the environment replaced by a minimal one;
2. rlimits: address space, CPU time, process count, file size, open files, no core dumps;
3. ``no_new_privs``; Landlock (reads limited to the Python installation and system
   directories, writes to the working directory only, TCP connect/bind denied, signals and
   abstract sockets scoped to the sample); when the server runs as root, the sample becomes
   ``nobody`` (keeping only the capability to read files when the interpreter lives where
   ``nobody`` cannot read it); every other capability dropped; a seccomp filter that refuses
   non-Unix sockets, io_uring, namespaces, mounts, ptrace, kernel keyrings, BPF and modules;
4. ``exec`` of the program in a fresh namespace ``{}`` (as the official harness does).

The verdict is not the exit status: before running the program the child takes a 128-bit
random nonce, its own pid and the raw ``os.write``; only when ``exec`` returns normally does
it write ``nonce + "P"`` on fd 3. An exception writes ``nonce + "F"`` (AssertionError) or
``nonce + "E"`` (anything else) with the exception. ``sys.exit``/``os._exit`` before the end,
a crash, a closed or redirected fd 3, a forked copy finishing the program (wrong pid): no
"P" token, so no pass. The server then kills everything the sample started (the whole pid
namespace, or every orphan it reaped as a subreaper) before it answers.

Isolation layers, each used when the kernel allows it (the hello message says which):
- network and pid namespaces (and a mount namespace with a private ``/proc``): as root
  directly, otherwise inside an unprivileged user namespace; the server is pid 1 of its
  namespace, so samples cannot signal it and orphans come back to it;
- otherwise ``PR_SET_CHILD_SUBREAPER`` plus a sweep of its children after each sample;
- Landlock (Linux >= 5.13; network rules >= 6.7, signal scoping >= 6.12) and seccomp.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time

# Modules HumanEval and MBPP programs import all the time: importing them once here makes
# every forked sample start with them loaded (typing alone is ~10 ms per sample otherwise).
for _name in (
    "typing", "math", "re", "string", "collections", "itertools", "functools", "heapq",
    "bisect", "hashlib", "random", "fractions", "decimal", "statistics", "datetime", "copy",
    "operator", "cmath", "array", "textwrap", "unicodedata", "dataclasses", "enum", "socket",
):  # fmt: skip
    try:
        __import__(_name)
    except ImportError:
        pass

LINUX = sys.platform.startswith("linux")
_libc = ctypes.CDLL(None, use_errno=True) if LINUX else None
if _libc is not None:
    _libc.syscall.restype = ctypes.c_long

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
CLONE_NS_FLAGS = 0x7E020000  # every CLONE_NEW* flag
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_PDEATHSIG, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS = 1, 8, 38
PR_SET_CHILD_SUBREAPER, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 36, 47, 2
CAP_DAC_READ_SEARCH = 2
NOBODY = 65534
RESULT_FD = 3

# Landlock (include/uapi/linux/landlock.h)
LL_CREATE_RULESET, LL_ADD_RULE, LL_RESTRICT_SELF = 444, 445, 446
LL_RULE_PATH_BENEATH = 1
LL_FS_EXECUTE, LL_FS_WRITE_FILE, LL_FS_READ_FILE, LL_FS_READ_DIR = 1, 2, 4, 8
LL_FS_TRUNCATE, LL_FS_IOCTL_DEV = 1 << 14, 1 << 15
LL_FS_FILE_ONLY = LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE
LL_READ = LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR

# seccomp: syscalls a sample has no business making, per architecture.
_DENY = {
    # x86_64
    0xC000003E: dict(
        socket=41, clone=56, clone3=435, ptrace=101, unshare=272, setns=308, mount=165,
        umount2=166, pivot_root=155, chroot=161, reboot=169, kexec_load=246,
        kexec_file_load=320, init_module=175, finit_module=313, delete_module=176, bpf=321,
        perf_event_open=298, keyctl=250, add_key=248, request_key=249, userfaultfd=323,
        open_by_handle_at=304, name_to_handle_at=303, swapon=167, swapoff=168, acct=163,
        process_vm_readv=310, process_vm_writev=311, kcmp=312, pidfd_getfd=438,
        io_uring_setup=425, io_uring_enter=426, io_uring_register=427, open_tree=428,
        move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
        settimeofday=164, clock_settime=227, sethostname=170, setdomainname=171, iopl=172,
        ioperm=173,
    ),
    # aarch64 (asm-generic numbering)
    0xC00000B7: dict(
        socket=198, clone=220, clone3=435, ptrace=117, unshare=97, setns=268, mount=40,
        umount2=39, pivot_root=41, chroot=51, reboot=142, kexec_load=104, kexec_file_load=294,
        init_module=105, finit_module=273, delete_module=106, bpf=280, perf_event_open=241,
        keyctl=219, add_key=217, request_key=218, userfaultfd=282, open_by_handle_at=265,
        name_to_handle_at=264, swapon=224, swapoff=225, acct=89, process_vm_readv=270,
        process_vm_writev=271, kcmp=272, pidfd_getfd=438, io_uring_setup=425,
        io_uring_enter=426, io_uring_register=427, open_tree=428, move_mount=429, fsopen=430,
        fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, settimeofday=170,
        clock_settime=112, sethostname=161, setdomainname=162,
    ),
}  # fmt: skip
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    _check(
        _libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0),
        f"prctl({option})",
    )


# ---------------------------------------------------------------------------------------
# Server start: namespaces


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _enter_namespaces(disable: set[str]) -> dict:
    """Unshare network/pid/mount namespaces as far as allowed; return what was entered."""
    info = {"netns": False, "pidns": False, "userns": False}
    if not LINUX:
        return info
    uid, gid = os.getuid(), os.getgid()
    wanted = 0
    if "netns" not in disable:
        wanted |= CLONE_NEWNET
    if "pidns" not in disable:
        wanted |= CLONE_NEWPID | CLONE_NEWNS
    if not wanted:
        return info
    attempts = [wanted] if uid == 0 else []
    if "userns" not in disable:
        attempts += [CLONE_NEWUSER | wanted, CLONE_NEWUSER | (wanted & CLONE_NEWNET)]
    for flags in attempts:
        if not flags & ~CLONE_NEWUSER or _libc.unshare(flags) != 0:
            continue
        if flags & CLONE_NEWUSER:
            try:  # keep our ids inside: files we create still belong to us outside
                _write("/proc/self/setgroups", "deny")
                _write("/proc/self/uid_map", f"{uid} {uid} 1")
                _write("/proc/self/gid_map", f"{gid} {gid} 1")
            except OSError:
                pass
            info["userns"] = True
        info["netns"] = bool(flags & CLONE_NEWNET)
        info["pidns"] = bool(flags & CLONE_NEWPID)
        break
    return info


def _become_pid1() -> None:
    """After unshare(CLONE_NEWPID) our next child is pid 1 of the namespace: fork it.

    This process stays outside as a plain waiter and exits with the server's status, so
    the caller's handle on us still tracks the server.
    """
    pid = os.fork()
    if pid:
        os.close(0)
        os.close(1)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _private_mounts() -> dict:
    """In our own mount namespace: stop mounts propagating, and mount a /proc that shows
    only our pid namespace."""
    ms_rec, ms_private = 0x4000, 0x40000
    if _libc.mount(None, b"/", None, ctypes.c_ulong(ms_rec | ms_private), None) != 0:
        return {"mounts": False, "proc": False}
    flags = ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return {"mounts": True, "proc": _libc.mount(b"proc", b"/proc", b"proc", flags, None) == 0}


def _tmpfs(path: str, size_mb: int) -> bool:
    """A size-capped tmpfs on ``path`` (seen only in our mount namespace)."""
    options = f"size={size_mb}m,mode=0700".encode()
    flags = ctypes.c_ulong(MS_NOSUID | MS_NODEV)
    return _libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, options) == 0


# ---------------------------------------------------------------------------------------
# Per-sample hardening (runs in the forked child)


def _landlock_abi() -> int:
    if not LINUX:
        return 0
    ret = _libc.syscall(ctypes.c_long(LL_CREATE_RULESET), None, ctypes.c_size_t(0), 1)
    return max(int(ret), 0)


def _read_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p)
    paths.update(os.path.realpath(p) for p in list(paths))
    paths.update(os.path.realpath(p) for p in (sys.executable, os.__file__))
    paths.update(["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"])
    paths.update(["/dev", "/proc", "/sys"])
    # /etc only what programs read (the loader cache, time zone, user names), not shadow
    etc = "ld.so.cache ld.so.conf ld.so.conf.d localtime timezone passwd group nsswitch.conf"
    etc += " hosts mime.types ssl os-release"
    paths.update(f"/etc/{name}" for name in etc.split())
    return sorted(p for p in paths if os.path.exists(p))


def _landlock_ruleset(workdir: str, abi: int) -> int:
    """Build the ruleset once in the server; each child only has to enforce it."""
    fs = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        fs |= 1 << 13  # refer
    if abi >= 3:
        fs |= LL_FS_TRUNCATE
    if abi >= 5:
        fs |= LL_FS_IOCTL_DEV
    net = 3 if abi >= 4 else 0  # bind + connect TCP, with no rule allowing any port
    scoped = 3 if abi >= 6 else 0  # abstract unix sockets + signals
    attr = struct.pack("QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = _check(
        _libc.syscall(ctypes.c_long(LL_CREATE_RULESET), buf, ctypes.c_size_t(len(attr)), 0),
        "landlock_create_ruleset",
    )
    rules = [(p, LL_READ) for p in _read_paths()]
    rules += [("/dev/null", LL_FS_READ_FILE | LL_FS_WRITE_FILE), ("/dev/zero", LL_FS_READ_FILE)]
    rules.append((workdir, fs))
    try:
        for path, access in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):
                    access &= LL_FS_FILE_ONLY | LL_FS_IOCTL_DEV
                access &= fs
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access, pfd), 12)
                _check(
                    _libc.syscall(ctypes.c_long(LL_ADD_RULE), fd, LL_RULE_PATH_BENEATH, rule, 0),
                    f"landlock_add_rule({path})",
                )
            finally:
                os.close(pfd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _landlock_restrict(ruleset_fd: int) -> None:
    _check(_libc.syscall(ctypes.c_long(LL_RESTRICT_SELF), ruleset_fd, 0), "landlock_restrict_self")


def _seccomp_program(arch: int) -> bytes:
    """A classic-BPF filter: deny the syscalls in _DENY, non-Unix sockets, namespace clones."""
    ld_w_abs, jeq_k, jset_k, jge_k, ret_k = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, eperm, enosys, eacces = 0x7FFF0000, 0x00050001, 0x00050026, 0x0005000D
    nrs = _DENY[arch]
    deny = [nr for name, nr in nrs.items() if name not in ("socket", "clone", "clone3")]
    # (code, k, jump-if-true label, jump-if-false label); labels resolve to offsets below
    # (forward only: classic BPF cannot jump back)
    prog: list[tuple] = [(ld_w_abs, 4), (jeq_k, arch, None, "deny"), (ld_w_abs, 0)]
    if arch == 0xC000003E:
        prog.append((jge_k, 0x40000000, "deny", None))  # the x32 ABI
    prog += [(jeq_k, nr, "deny", None) for nr in deny]
    prog += [
        (jeq_k, nrs["socket"], "socket", None),
        (jeq_k, nrs["clone"], "clone", None),
        (jeq_k, nrs["clone3"], "enosys", None),
        (ret_k, allow),
        ("enosys", ret_k, enosys),  # clone3: libc falls back to clone, whose flags we can read
        ("deny", ret_k, eperm),
        ("socket", ld_w_abs, 16),  # args[0]: the address family
        (jeq_k, 1, "allow", None),  # AF_UNIX
        (ret_k, eacces),
        ("clone", ld_w_abs, 16),  # args[0]: the clone flags
        (jset_k, CLONE_NS_FLAGS, None, "allow"),
        (ret_k, eperm),
        ("allow", ret_k, allow),
    ]
    labels, plain = {}, []
    for i, ins in enumerate(prog):
        if isinstance(ins[0], str):
            labels[ins[0]] = i
            ins = ins[1:]
        plain.append(ins)
    out = []
    for i, ins in enumerate(plain):
        code, k = ins[0], ins[1]
        jt = labels[ins[2]] - i - 1 if len(ins) > 2 and ins[2] else 0
        jf = labels[ins[3]] - i - 1 if len(ins) > 3 and ins[3] else 0
        out.append(struct.pack("HBBI", code, jt, jf, k))
    return b"".join(out)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _seccomp_filter(arch: int) -> tuple:
    """The filter ready to install (built once in the server; the buffer must stay alive)."""
    code = _seccomp_program(arch)
    buf = ctypes.create_string_buffer(code, len(code))
    return arch, _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p)), buf


def _seccomp(prepared: tuple) -> None:
    arch, fprog, _ = prepared
    set_mode_filter, spec_allow = 1, 1 << 2
    # SPEC_ALLOW: by default a filter also turns on the speculative-store-bypass mitigation,
    # which slows the program down; it guards against a side channel, which this sandbox
    # does not claim to stop anyway.
    nr = {0xC000003E: 317, 0xC00000B7: 277}[arch]
    ret = _libc.syscall(ctypes.c_long(nr), set_mode_filter, spec_allow, ctypes.byref(fprog))
    if ret < 0:  # a kernel without the flag
        pr_set_seccomp, seccomp_mode_filter = 22, 2
        _check(
            _libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0),
            "seccomp",
        )


def _capset(keep: int | None) -> None:
    """Set every capability set to nothing, or to just ``keep`` (also made ambient)."""
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    bit = 0 if keep is None else 1 << keep
    data = struct.pack("IIIIII", bit, bit, bit, 0, 0, 0)  # effective, permitted, inheritable
    _check(_libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)), "capset")
    if keep is not None:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, keep)


def _disable_sockets() -> None:
    """Last resort where the kernel gave us nothing: refuse sockets at the Python level."""
    import socket

    def refuse(*args, **kwargs):
        raise PermissionError("network access is disabled in the sandbox")

    socket.socket = refuse  # type: ignore[assignment, misc]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.socketpair = refuse  # type: ignore[assignment]


def _harden(req: dict, workdir: str, plan: dict, fds: tuple[int, int, int]) -> None:
    """Everything between fork and exec; raises if any step fails."""
    # Park the pipe ends above the low fds first, then put the verdict pipe on fd 3 before
    # anything can fail, so a setup error is still reported there.
    out_w, err_w, res_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds)
    os.dup2(res_w, RESULT_FD, inheritable=False)
    os.setsid()
    if LINUX:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if plan["ruleset"] is not None:
            _landlock_restrict(plan["ruleset"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.closerange(RESULT_FD + 1, 1 << 20)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(
        PATH="/usr/local/bin:/usr/bin:/bin", HOME=workdir, TMPDIR=workdir, LANG="C.UTF-8",
        LC_ALL="C.UTF-8", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
    )  # fmt: skip
    tempfile.tempdir = None  # the server's cached /tmp; TMPDIR now says the work dir

    cpu = max(1, int(req["timeout"] + 1.999))
    file_size = req["max_file_mb"] << 20
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_FSIZE, file_size, file_size),
        (resource.RLIMIT_NOFILE, req["max_open_files"], req["max_open_files"]),
    ]
    if req.get("memory_mb"):
        limits.append((resource.RLIMIT_AS, req["memory_mb"] << 20, req["memory_mb"] << 20))
    if hasattr(resource, "RLIMIT_NPROC"):
        n = plan["nproc_base"] + req["max_processes"]
        limits.append((resource.RLIMIT_NPROC, n, n))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))

    if not LINUX:
        _disable_sockets()
        return
    if plan["user"] == "nobody":
        keep = plan["keep_read"]
        if keep:
            _prctl(PR_SET_KEEPCAPS, 1)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        _capset(CAP_DAC_READ_SEARCH if keep else None)
    else:
        _capset(None)
    if plan["seccomp"] is not None:
        _seccomp(plan["seccomp"])
    if not (plan["netns"] or plan["seccomp"] or plan["landlock"] >= 4):
        _disable_sockets()


def _run(program: str, nonce: bytes) -> None:
    """Run the program; report on fd 3 with the nonce. Never returns."""
    # Bind everything the verdict depends on before the program can touch builtins or os.
    write, exit_, getpid = os.write, os._exit, os.getpid
    is_instance, type_, str_, repr_, bytes_ = isinstance, type, str, repr, bytes
    assertion_error, base_exception = AssertionError, BaseException
    me = getpid()
    tag, detail = b"P", ""
    try:
        exec(compile(program, "<program>", "exec"), {})
    except base_exception as e:  # SystemExit too: exiting early is not passing
        tag = b"F" if is_instance(e, assertion_error) else b"E"
        try:
            detail = f"{type_(e).__name__}: {str_(e)}"[:2000]
        except base_exception:
            detail = repr_(type_(e))[:200]
    if getpid() != me:  # a forked copy reached the end of the program: it has no say
        exit_(0)
    try:
        write(RESULT_FD, nonce + tag + bytes_(detail, "utf-8", "replace"))
    except base_exception:
        exit_(70)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except base_exception:
            pass
    exit_(0 if tag == b"P" else 1)


# ---------------------------------------------------------------------------------------
# The server loop


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def recv(fd: int) -> dict | None:
    """Read one frame; None at end of file."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def send(fd: int, obj: dict) -> None:
    body = json.dumps(obj).encode()
    data = struct.pack(">I", len(body)) + body
    while data:
        data = data[os.write(fd, data) :]


class Capped:
    """Keeps the first ``cap`` bytes of a stream and counts the rest."""

    def __init__(self, cap: int):
        self.cap, self.data, self.total = cap, bytearray(), 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        s = self.data.decode("utf-8", "replace")
        if self.total > len(self.data):
            s += f"\n[... {self.total - len(self.data)} more bytes dropped]"
        return s


def _drain(fd: int, capped: Capped) -> bool:
    """Read what is there; False at end of file."""
    try:
        chunk = os.read(fd, 1 << 16)
    except BlockingIOError:
        return True
    if not chunk:
        return False
    capped.feed(chunk)
    return True


class Server:
    def __init__(self, ns: dict, disable: set[str], nobody_processes: int, disk_mb: int = 0):
        self.ns = ns
        self.pid1 = ns["pidns"] and os.getpid() == 1
        if LINUX and not self.pid1:
            _prctl(PR_SET_CHILD_SUBREAPER, 1)
        self.base = tempfile.mkdtemp(prefix="phi1-sandbox-")
        os.chmod(self.base, 0o711)
        # One work directory for all samples (they run one at a time), emptied after each:
        # the Landlock rule naming it is built once, not per sample.
        self.workdir = os.path.join(self.base, "work")
        os.mkdir(self.workdir, 0o700)
        # In our own mount namespace the work directory is a tmpfs of disk_mb: a program
        # that writes files in a loop fills that, not the host's disk.
        self.tmpfs = bool(disk_mb and ns.get("mounts") and _tmpfs(self.workdir, disk_mb))
        self.plan = self._plan(disable, nobody_processes)
        self._workdir_id = _inode(self.workdir)
        gc.freeze()  # keep the collector off the server's objects in each forked child

    # -- what a child can apply here ----------------------------------------------------
    def _plan(self, disable: set[str], nobody_processes: int) -> dict:
        root = LINUX and os.getuid() == 0 and not self.ns["userns"]
        arch = _AUDIT_ARCH.get(os.uname().machine) if LINUX else None
        plan = {
            "netns": self.ns["netns"],
            "landlock": 0 if "landlock" in disable else _landlock_abi(),
            "ruleset": None,
            "seccomp": _seccomp_filter(arch) if arch and "seccomp" not in disable else None,
            "user": "nobody" if root and "nobody" not in disable else "same",
            "keep_read": False,
        }
        if plan["user"] == "nobody":
            os.chown(self.workdir, NOBODY, NOBODY)
        # RLIMIT_NPROC counts every process of the sample's user, ours included: a sample
        # may start max_processes more than there are now (counted before namespaces hid
        # the host's processes, for nobody).
        if plan["user"] == "nobody":
            plan["nproc_base"] = nobody_processes + 4
            plan["keep_read"] = not self._probe(plan, as_nobody=True)
        else:
            plan["nproc_base"] = _count_processes(os.getuid()) + 4
        if plan["landlock"]:
            try:
                fd = _landlock_ruleset(self.workdir, plan["landlock"])
                # high, out of the way of the fds a child rearranges (fd 3 is the verdict's)
                plan["ruleset"] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
                os.close(fd)
            except OSError:
                plan["landlock"] = 0
        # A layer that fails in a child is dropped (and reported) rather than failing every
        # sample; the probe runs the same code a sample does.
        seccomp, plan["seccomp"] = plan["seccomp"], None
        if plan["ruleset"] is not None and not self._probe(plan):
            os.close(plan["ruleset"])
            plan["ruleset"], plan["landlock"] = None, 0
        plan["seccomp"] = seccomp
        if seccomp is not None and not self._probe(plan):
            plan["seccomp"] = None
        if not self._probe(plan):
            raise RuntimeError(f"the sandbox cannot start a child here: {self.probe_error}")
        return plan

    def _probe(self, plan: dict, as_nobody: bool = False) -> bool:
        """Fork a child that applies ``plan`` and can still import and write; True if so.

        ``as_nobody``: only check that user nobody can read the Python installation.
        """
        req = {"timeout": 5, "max_file_mb": 1, "max_open_files": 64, "max_processes": 64}
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                if as_nobody:
                    os.setgroups([])
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                    dirs = {sys.prefix, sys.base_prefix, os.path.dirname(os.__file__)}
                    dirs.update(p for p in sys.path if os.path.isdir(p))
                    for d in dirs:
                        os.listdir(d)
                    os.write(w, b"ok")
                else:
                    _harden(req, self.workdir, plan, (w, w, w))
                    import email.parser  # noqa: F401 - a stdlib module not loaded yet

                    with open("probe.txt", "w") as f:
                        f.write("ok")
                    os.write(RESULT_FD, b"ok")
                os._exit(0)
            except BaseException as e:
                try:
                    os.write(RESULT_FD if not as_nobody else w, repr(e).encode()[:500])
                finally:
                    os._exit(1)
        os.close(w)
        _, status = os.waitpid(pid, 0)
        out = b""
        while chunk := os.read(r, 4096):
            out += chunk
        os.close(r)
        self._cleanup(pid, status)
        _empty(self.workdir)
        self.probe_error = out.decode("utf-8", "replace")
        return status == 0 and out == b"ok"

    def isolation(self) -> dict:
        """What protects the host here, in words (the hello message carries it)."""
        p, ll = self.plan, self.plan["landlock"]
        if self.ns["netns"]:
            network = "namespace"
        elif p["seccomp"]:
            network = "seccomp (non-Unix sockets refused)"
        elif ll >= 4:
            network = "landlock (TCP connect/bind refused)"
        else:
            network = "python (socket module disabled)"
        if p["user"] == "nobody":
            user = "nobody + read capability" if p["keep_read"] else "nobody"
        else:
            user = "same, no capabilities"
        return {
            "network": network,
            "processes": "pid namespace" if self.pid1 else "subreaper",
            "proc": "private" if self.ns.get("proc") else "host",
            "filesystem": f"landlock ABI {ll}" if ll else "none",
            "workdir": "tmpfs" if self.tmpfs else "host disk",
            "signals": "scoped" if ll >= 6 else "pid namespace" if self.pid1 else "same user",
            "user": user,
            "seccomp": p["seccomp"] is not None,
            "userns": self.ns["userns"],
        }

    # -- one sample -----------------------------------------------------------------------
    def run(self, req: dict) -> dict:
        nonce = os.urandom(16).hex().encode()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                _harden(req, self.workdir, self.plan, (out_w, err_w, res_w))
            except BaseException as e:
                try:
                    os.write(RESULT_FD, nonce + b"S" + f"sandbox setup failed: {e!r}".encode())
                finally:
                    os._exit(71)
            _run(req["program"], nonce)
        for fd in (out_w, err_w, res_w):
            os.close(fd)
        try:
            return self._watch(req, pid, start, nonce, (out_r, err_r, res_r))
        finally:
            for fd in (out_r, err_r, res_r):
                os.close(fd)
            if _inode(self.workdir) != self._workdir_id:
                # Only a sample without Landlock can replace it; touch nothing there, and
                # refuse to go on (its Landlock rule, if any, would name a dead inode).
                raise RuntimeError("a program replaced the sandbox work directory")
            _empty(self.workdir)
            if self.plan["user"] == "nobody":
                os.chown(self.workdir, NOBODY, NOBODY)
            os.chmod(self.workdir, 0o700)

    def _watch(self, req: dict, pid: int, start: float, nonce: bytes, fds: tuple) -> dict:
        out_r, err_r, res_r = fds
        streams = {out_r: Capped(req["max_output"]), err_r: Capped(req["max_output"])}
        streams[res_r] = Capped(1 << 16)
        open_fds = set(streams)
        for fd in streams:
            os.set_blocking(fd, False)
        pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
        deadline = start + req["timeout"]
        timed_out, status = False, None
        try:
            while status is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                watch = [*open_fds, 0] + ([pidfd] if pidfd is not None else [])
                ready = select.select(watch, [], [], left if pidfd is not None else 0.005)[0]
                if 0 in ready:  # the caller closed our stdin (it waits while we run)
                    self._cleanup(pid)
                    raise SystemExit(0)
                for fd in ready:
                    if fd in open_fds and not _drain(fd, streams[fd]):
                        open_fds.discard(fd)
                if pidfd is None or pidfd in ready:
                    done, st = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = st
        finally:
            if pidfd is not None:
                os.close(pidfd)
        duration = time.monotonic() - start
        status = self._cleanup(pid, status)
        for fd in open_fds:  # every writer is dead now: take what is left
            while select.select([fd], [], [], 0.2)[0] and _drain(fd, streams[fd]):
                pass
        result = _verdict(bytes(streams[res_r].data), nonce, status, timed_out, req)
        result["stdout"] = streams[out_r].text()
        result["stderr"] = streams[err_r].text()
        result["duration"] = round(duration, 4)
        return result

    def _cleanup(self, pid: int, status: int | None = None) -> int:
        """Kill and reap everything the sample started; return the sample's wait status."""
        for target in (-pid, pid):  # its process group, then itself if it left the group
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if status is None:
            _, status = os.waitpid(pid, 0)
        if self.pid1:
            # As pid 1, kill(-1) reaches every process in the namespace but us; repeat it
            # until nothing is left to reap, so a process forked meanwhile goes too.
            while True:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    done, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    return status
                if not done:
                    time.sleep(0.001)
        # Subreaper: what escaped the group comes back to us when its parent dies. Wait
        # only for the processes we killed (a blocking wait for any child would hang on an
        # orphan that is still alive), then look again.
        while kids := _children():
            for kid in kids:
                try:
                    os.kill(kid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for kid in kids:
                try:
                    os.waitpid(kid, 0)
                except ChildProcessError:
                    pass
        _reap()
        return status


def _verdict(res: bytes, nonce: bytes, status: int, timed_out: bool, req: dict) -> dict:
    at = res.find(nonce)
    tag = res[at + len(nonce) : at + len(nonce) + 1] if at >= 0 else b""
    detail = res[at + len(nonce) + 1 :].decode("utf-8", "replace") if at >= 0 else ""
    if tag == b"P":
        return {"status": "passed", "detail": ""}
    if tag == b"F":
        return {"status": "failed", "detail": detail}
    if tag in (b"E", b"S"):
        return {"status": "error", "detail": detail}
    if timed_out:
        return {"status": "timeout", "detail": f"wall-clock limit of {req['timeout']:g} s"}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return {"status": "timeout", "detail": "CPU time limit"}
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return {"status": "error", "detail": f"killed by {name}"}
    code = os.waitstatus_to_exitcode(status)
    return {"status": "error", "detail": f"exited with status {code} before the program ended"}


def _reap() -> None:
    """Collect children that have exited, without waiting."""
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:
            return


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        pass
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                kids.append(int(name))
    return kids


def _count_processes(uid: int) -> int:
    n = 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0
    for name in names:
        if name.isdigit():
            try:
                n += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return n


def _inode(path: str) -> tuple[int, int]:
    st = os.lstat(path)  # a symlink put in its place is not the directory
    return st.st_dev, st.st_ino


def _empty(path: str) -> None:
    """Remove everything inside ``path``, keeping ``path`` itself."""
    _unlock(path)
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _unlock(root: str) -> None:
    """Give back write and search permission on ``root`` and every directory below it (a
    sample may have taken them away), never touching anything outside ``root``."""
    try:
        os.chmod(root, 0o700)
    except OSError:
        return
    for parent, dirs, _ in os.walk(root):
        for name in dirs:
            try:
                os.chmod(os.path.join(parent, name), 0o700, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass


def main() -> None:
    # started with -I, or with -s -P under a fixed hash seed, the script's own directory is
    # not on sys.path; Python 3.10 has no -P, so take it off here (samples fork from us)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    config = recv(0) or {}
    disable = set(config.get("disable", ()))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # pid 1 would otherwise take a sample's ^C
    nobody = _count_processes(NOBODY) if LINUX and os.getuid() == 0 else 0
    ns = _enter_namespaces(disable)
    if ns["pidns"]:
        _become_pid1()
        ns |= _private_mounts()
    server = Server(ns, disable, nobody, int(config.get("disk_mb", 0)))
    send(1, {"hello": 1, "isolation": server.isolation(), "base": server.base})
    try:
        while (req := recv(0)) is not None:
            send(1, server.run(req))
    finally:
        if server.tmpfs:
            _libc.umount2(server.workdir.encode(), 2)  # MNT_DETACH
        _unlock(server.base)
        shutil.rmtree(server.base, ignore_errors=True)


if __name__ == "__main__":
    main()
