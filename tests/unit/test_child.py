"""hitl_runtime.child: a call in a spawned child process, whose memory goes when it exits."""

from __future__ import annotations

import math
import os

import pytest

from hitl_runtime.child import ChildFailed, run_in_child


def test_the_call_runs_in_another_process_and_its_result_comes_back() -> None:
    assert run_in_child(math.factorial, 20) == math.factorial(20)
    assert run_in_child(os.getpid) != os.getpid()


def test_an_exception_in_the_child_is_raised_here_with_the_childs_traceback() -> None:
    with pytest.raises(ChildFailed, match=r"(?s)failed in its child process.*ValueError"):
        run_in_child(int, "not a number")


def test_a_child_that_dies_before_answering_is_a_failure_not_a_hang() -> None:
    with pytest.raises(ChildFailed, match="exited with code 3 before it answered"):
        run_in_child(os._exit, 3)
