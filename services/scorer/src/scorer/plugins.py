"""A team's own signals: plug-ins named in the policy, loaded from installed entry points.

The contract (hitl_runtime.signal_names): a callable `(draft: Draft) -> SignalResult` with a
risk `value` in [0, 1], published by an installed package under the entry-point group
`hitl_gate.signals`, e.g. in its pyproject.toml:

    [project.entry-points."hitl_gate.signals"]
    llm_judge = "acme_judge:judge"

and listed in the policy's top-level `signals: [llm_judge]`. It runs on every draft next to the
scorer's own signals, under the same guard: an exception, or a result outside the contract,
marks the signal failed on that draft (the router then reviews it unless the type's
`on_signal_failure` says ignore). A signal that calls out (an LLM judge over HTTP) sets its own
timeout and raises when it passes it. A plug-in's value drives hard rules and is shown to
reviewers; the combiner's confidence does not weigh it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points

from hitl_runtime.policy import PolicyError
from hitl_runtime.signal_names import PLUGIN_GROUP
from hitl_schemas import Draft
from scorer.signals.base import PerDraft, SignalResult


def load_plugins(
    names: Sequence[str], available: Iterable[EntryPoint] | None = None
) -> tuple[tuple[str, PerDraft], ...]:
    """The policy's plug-in signals, loaded; stops (PolicyError) naming any not installed."""
    published = {ep.name: ep for ep in (available if available is not None
                                        else entry_points(group=PLUGIN_GROUP))}  # fmt: skip
    missing = [name for name in names if name not in published]
    if missing:
        raise PolicyError(
            f"policy signals {', '.join(missing)}: no installed package publishes them under "
            f"the entry-point group {PLUGIN_GROUP!r}; install the plug-in's package in the "
            "scorer's environment, or remove the name from the policy's `signals:` (and the "
            "hard rules that use it)"
        )
    loaded = []
    for name in names:
        try:
            signal = published[name].load()
        except Exception as exc:  # noqa: BLE001 - any import error stops the start, named
            raise PolicyError(
                f"policy signal {name}: its plug-in failed to load: {exc!r}"
            ) from None
        if not callable(signal):
            raise PolicyError(f"policy signal {name}: {published[name].value} is not callable")
        loaded.append((name, checked(name, signal)))
    return tuple(loaded)


def checked(name: str, signal: Callable[[Draft], object]) -> PerDraft:
    """The plug-in, with its result held to the contract (else it fails on that draft)."""

    def run(draft: Draft) -> SignalResult:
        result = signal(draft)
        if not isinstance(result, SignalResult) or not (
            math.isfinite(result.value) and 0.0 <= result.value <= 1.0
        ):
            raise TypeError(
                f"plug-in signal {name} returned {str(result)[:100]}; the contract is a "
                "SignalResult with a value in [0, 1]"
            )
        return result

    return run
