"""Run one candidate's evaluation in a child process, so nothing a candidate does can take the search down.

In-process evaluation already survives a Python exception. What it cannot survive is a
candidate that hangs (a deadlocked kernel, a pathological shape), one that grows until
the machine swaps or the kernel's OOM killer takes the whole search, or one that crashes
the interpreter in native code. ``run_isolated`` runs the evaluation in a child started
from a fork server (``multiprocessing`` "forkserver": the server imports torch once, each
child is a cheap fork of it, and no parent threads are inherited) and turns each way of
dying into a ``CandidateError`` with a reason a person can act on:

- wall clock over ``timeout_s``      -> ``TrialTimeout``     ("exceeded 30 s ...")
- memory cap hit (``RLIMIT_AS``)     -> ``TrialOutOfMemory`` ("exceeded the 2048 MB cap ...")
- killed by a signal / exited early  -> ``TrialCrashed``     ("killed by signal 11 (SIGSEGV)")
- a Python exception in the child    -> the same exception type name and message as in-process

The memory cap is the address space the candidate may add on top of what the child has
mapped when it starts (torch, onnxruntime and the dataset are already there): a cap on
the candidate, not on the libraries every candidate shares.

The child ignores SIGINT (a Ctrl-C at the terminal reaches the whole process group; the
search's contract is "finish the current trial, then stop"), and exits on its own when
the parent dies, so a SIGKILLed search leaves no orphan burning a core.
"""

from __future__ import annotations

import builtins
import contextlib
import multiprocessing as mp
import os
import resource
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

from hynas.errors import CandidateError

PRELOAD = ["hynas.build", "hynas.latency", "hynas.proxy.trainer", "hynas.search.problems.evaluate"]
_OOM_MARKERS = ("can't allocate memory", "cannot allocate memory", "bad_alloc", "out of memory",
                "failed to allocate")
_ctx: Any = None


class TrialTimeout(CandidateError):
    """The candidate ran past the per-trial wall-clock limit and was killed."""


class TrialOutOfMemory(CandidateError):
    """The candidate tried to use more memory than the per-trial cap allows."""


class TrialCrashed(CandidateError):
    """The child process died without reporting (a signal, a native abort, os._exit)."""


def _context() -> Any:
    """The fork-server context, with the heavy modules preloaded once in the server."""
    global _ctx
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
    return _ctx


def run_isolated(fn: Callable[..., Any], args: tuple = (), *, timeout_s: float | None = None,
                 memory_mb: int | None = None, report: Callable[[int, float], bool] | None = None) -> Any:
    """``fn(*args)`` in a child process; its return value, or a ``CandidateError`` saying why not.

    ``fn`` and ``args`` must be picklable (a module-level function or a bound method of a
    picklable object). Blocks registered outside ``hynas.blocks`` (plugins, tests) are sent
    along and registered in the child, so the child sees the same registry as the parent.

    ``report`` (intermediate results for pruning) stays in the parent: the child is called as
    ``fn(*args, report=r)`` where ``r(step, value)`` sends the pair over a pipe and waits for
    the parent's ``report(step, value)`` answer (True: stop), so the sampler's pruning rule
    and the study are only ever touched by the parent.
    """
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    alive_r, alive_w = ctx.Pipe(duplex=False)
    ctl, ctl_child = ctx.Pipe(duplex=True) if report is not None else (None, None)
    proc = ctx.Process(target=_child, args=(send, alive_r, fn, args, memory_mb, _extra_blocks(), ctl_child),
                       daemon=True)
    t0 = time.monotonic()
    with _main_hidden():
        proc.start()
    send.close()
    alive_r.close()
    if ctl_child is not None:
        ctl_child.close()
    try:
        return _collect(proc, recv, t0, timeout_s, memory_mb, ctl, report)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        recv.close()
        alive_w.close()
        if ctl is not None:
            ctl.close()


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Start the child without re-running the caller's ``__main__`` in it.

    multiprocessing's spawn/forkserver children normally re-import the main script (as
    ``__mp_main__``) so that functions defined there can be unpickled. hynas sends only
    functions of its own modules, and re-running a main without a ``__name__`` guard
    (``python -m hynas``, a user's script) would start a second search inside the child.
    So the main module is swapped for an empty one for the moment the child is started.
    """
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


def _collect(proc: Any, recv: Any, t0: float, timeout_s: float | None, memory_mb: int | None,
             ctl: Any = None, report: Callable[[int, float], bool] | None = None) -> Any:
    """Wait for the child's message (or its death, or the deadline) and turn it into a result;
    answer the child's intermediate reports meanwhile."""
    from multiprocessing.connection import wait

    while True:
        left = None if timeout_s is None else timeout_s - (time.monotonic() - t0)
        if left is not None and left <= 0:
            raise TrialTimeout(f"exceeded {timeout_s:g} s wall-clock (trial killed)")
        ready = wait([recv] + ([ctl] if ctl is not None else []), 0.2 if left is None else min(0.2, left))
        if ctl is not None and ctl in ready:
            try:
                _, step, value = ctl.recv()
            except (EOFError, OSError):  # the child is gone; its death is read from the other pipe
                ctl = None
                continue
            ctl.send(bool(report(step, value)))  # type: ignore[misc]
            continue
        if recv in ready:
            try:
                msg = recv.recv()
            except EOFError:  # the child closed its end without a word: it died
                break
            return _unpack(msg, memory_mb)
        if not proc.is_alive():
            break
    proc.join(5)
    raise TrialCrashed(_death_text(proc.exitcode, memory_mb))


def _death_text(code: int | None, memory_mb: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown"
        text = f"killed by signal {-code} ({name})"
        if memory_mb and -code in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT):
            text += f"; the memory cap was {memory_mb} MB"
        return text
    return f"the evaluation process exited with code {code} without a result"


def _unpack(msg: tuple, memory_mb: int | None) -> Any:
    kind = msg[0]
    if kind == "ok":
        return msg[1]
    if kind == "oom":
        raise TrialOutOfMemory(f"exceeded the {memory_mb} MB memory cap ({msg[1]})")
    _, module, name, text, tb = msg
    err = _rebuild(module, name, text)
    err.child_traceback = tb  # type: ignore[attr-defined]
    raise err


_REMOTE: dict[tuple[str, str], type] = {}


def _rebuild(module: str, name: str, text: str) -> BaseException:
    """The child's exception with its type name and message (builtins as themselves)."""
    if name == "CandidateError":
        return CandidateError(text)
    if module == "builtins":
        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(text)
            except TypeError:
                pass
    key = (module, name)
    if key not in _REMOTE:  # same type name in the failure reason as in-process, still a CandidateError
        _REMOTE[key] = type(name, (CandidateError,), {"__module__": module})
    return _REMOTE[key](text)


def _extra_blocks() -> list[tuple[str, type, Any]]:
    """Blocks registered by code outside the hynas package: the child must register them too.

    A class pickles by reference (module + name), so its ``block_info``, set by the
    decorator at registration time, travels beside it.
    """
    from hynas.blocks import BLOCKS

    return [(n, c, c.block_info) for n, c in BLOCKS.items() if not c.__module__.startswith("hynas.")]


# ----------------------------------------------------------------------------- child side

def _child(send: Any, alive: Any, fn: Callable[..., Any], args: tuple, memory_mb: int | None,
           extra_blocks: list[tuple[str, type, Any]], ctl: Any = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(alive,), daemon=True).start()
    try:
        from hynas.blocks import BLOCKS

        for name, cls, info in extra_blocks:
            if name not in BLOCKS:
                cls.block_info, cls.block_name = info, name
                BLOCKS.register(name, cls)
        if memory_mb:
            cap_memory(memory_mb)
        msg: tuple = ("ok", fn(*args, report=_remote_report(ctl)) if ctl is not None else fn(*args))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent as a reason
        msg = _error_msg(e, memory_mb)
    try:
        send.send(msg)
    except Exception as e:  # noqa: BLE001 - an unpicklable result is a failure too, not a hang
        send.send(("error", "builtins", "RuntimeError", f"result could not be sent back: {e}", ""))
    send.close()


def _remote_report(ctl: Any) -> Callable[[int, float], bool]:
    def report(step: int, value: float) -> bool:
        ctl.send(("report", int(step), float(value)))
        return bool(ctl.recv())

    return report


def _error_msg(e: BaseException, memory_mb: int | None) -> tuple:
    text = str(e)
    if memory_mb and (isinstance(e, MemoryError) or any(m in text.lower() for m in _OOM_MARKERS)):
        return ("oom", text.strip().splitlines()[-1][:200] if text.strip() else type(e).__name__)
    tb = "".join(traceback.format_exception(e))[-4000:]
    return ("error", type(e).__module__, type(e).__name__, text[:2000], tb)


def cap_memory(memory_mb: int) -> int:
    """Cap this process's address space at what it maps now plus ``memory_mb``; returns the cap in bytes."""
    cap = _mapped_bytes() + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def _mapped_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _exit_with_parent(alive: Any) -> None:
    """Block on a pipe only the parent writes to: EOF means the parent is gone, so leave now."""
    try:
        alive.recv()
    except (EOFError, OSError):
        pass
    os._exit(3)
