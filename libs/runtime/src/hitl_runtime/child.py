"""Run one function call in a fresh child process and return its result.

For work whose memory must not stay with a long-running service. A process's heap seldom
shrinks back after a large transient working set (the allocator keeps freed pages, and many
small objects leave it fragmented), so a service that does such work again and again grows by
steps. A child's memory all goes back to the system when it exits.

Spawn, not fork: a forked copy of a threaded process (Kafka clients, the consume loop) can
inherit a lock some other thread held, and the parent's whole heap; a spawned child starts a
clean interpreter and imports what it needs. `fn`, its arguments and its result cross the
process boundary by pickling: a module-level function and plain data.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")


class ChildFailed(RuntimeError):
    """The call raised in its child (the message holds the child's traceback), or the child
    died before it answered (killed, out of memory)."""


def run_in_child(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a spawned child process, which exits afterwards. Blocks the
    calling thread only. The child is a daemon: if this process exits, it is terminated."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_answer, args=(send, fn, args, kwargs), name=f"child-{fn.__name__}", daemon=True
    )
    child.start()
    send.close()  # only the child holds the sending end now: its death reads as EOF here
    try:
        status, value = receive.recv()
    except EOFError:
        child.join()
        raise ChildFailed(
            f"{fn.__name__}: the child process exited with code {child.exitcode} before it "
            "answered (killed, or out of memory?)"
        ) from None
    finally:
        receive.close()
    child.join()
    if status == "error":
        raise ChildFailed(f"{fn.__name__} failed in its child process:\n{value}")
    result: T = value
    return result


def _answer(
    send: Connection, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except BaseException:  # noqa: BLE001 - every failure goes back to the parent as text
        outcome = ("error", traceback.format_exc())
    send.send(outcome)
    send.close()
