"""Run, stage and step states, and the one function allowed to change a run's state."""

from __future__ import annotations

import enum

from shipway.core.errors import Conflict


class RunState(str, enum.Enum):
    """The life of a run."""

    QUEUED = "queued"                  # recorded and in the ZooKeeper queue; no executor has it yet
    RUNNING = "running"                # an executor is running its stages
    WAITING = "waiting-for-approval"   # paused at an approve stage until someone decides
    SUCCEEDED = "succeeded"            # every stage that ran succeeded
    FAILED = "failed"                  # a stage failed, the file was invalid, or an approval was rejected/timed out (fail)
    ABORTED = "aborted"                # cancelled by a person, superseded (cancel-in-progress), or rejected
    TIMED_OUT = "timed-out"            # the pipeline timeout ran out
    INTERRUPTED = "interrupted"        # its executor died while it was running (shipway killed); re-run it
    SKIPPED = "skipped"                # the pipeline's own `triggers` exclude this event: nothing ran

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.ABORTED, RunState.TIMED_OUT,
                      RunState.INTERRUPTED, RunState.SKIPPED})

_ALLOWED: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.ABORTED, RunState.FAILED}),
    RunState.RUNNING: frozenset({RunState.WAITING, RunState.SUCCEEDED, RunState.FAILED, RunState.ABORTED,
                                 RunState.TIMED_OUT, RunState.INTERRUPTED, RunState.SKIPPED}),
    RunState.WAITING: frozenset({RunState.RUNNING, RunState.FAILED, RunState.ABORTED, RunState.TIMED_OUT}),
}


class IllegalTransition(Conflict):
    """A state change the run's life does not allow (e.g. succeeded → running)."""


def allowed_from(current: str | RunState) -> frozenset[RunState]:
    """The states a run in ``current`` may move to."""
    return _ALLOWED.get(RunState(current), frozenset())


def check_transition(current: str | RunState, new: str | RunState) -> RunState:
    """Return ``new`` as a :class:`RunState` if ``current → new`` is allowed; raise otherwise."""
    cur, nxt = RunState(current), RunState(new)
    if nxt not in _ALLOWED.get(cur, frozenset()):
        raise IllegalTransition(f"a run cannot go from {cur.value} to {nxt.value}",
                                details={"from": cur.value, "to": nxt.value})
    return nxt


class StepState(str, enum.Enum):
    """State of a stage or a step record."""

    PENDING = "pending"      # not started yet
    RUNNING = "running"      # running now
    WAITING = "waiting"      # an approve stage waiting for a decision
    SUCCEEDED = "succeeded"  # exit code 0 / approved / done
    FAILED = "failed"        # non-zero exit, error, rejected
    SKIPPED = "skipped"      # its `when` did not hold, or an earlier stage failed
    ABORTED = "aborted"      # cancelled
    TIMED_OUT = "timed-out"  # its timeout ran out


def worst(states: list[str]) -> str:
    """The overall outcome of several stage/step outcomes (buildbot's worst_status)."""
    order = ["succeeded", "failed", "timed-out", "aborted"]
    present = [s for s in states if s in order]  # skipped stages do not change the outcome
    return max(present, key=order.index) if present else "succeeded"
