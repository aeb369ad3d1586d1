"""Accepted timing plans as SUMO signal programs (pure).

A plan (control/plans.py message) lists phases with their green time; the SUMO program runs, for
each phase in order: its green state (the SUMO green phase the junction phase stands for), then
the yellow and all-red states towards the next phase's green (`control.layout.transition_states`:
a signal that stays green keeps its colour). Phase names follow the published signal states:
`P1`, `P1-yellow`, `P1-allred`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from control.layout import transition_states
from simulators.sumo.netfile import SignalData

MIN_STEP_S = 0.05


@dataclass(frozen=True, slots=True)
class ProgramStep:
    duration_s: float
    state: str
    name: str


def program_id(plan: Mapping[str, Any]) -> str:
    return f"citytraffic-v{plan.get('version')}"


def plan_program(data: SignalData, plan: Mapping[str, Any]) -> list[ProgramStep]:
    """The program of a plan that passed `control.plans.validate_plan` for `data.junction`."""
    phase_of_groups = {frozenset(p.signal_groups): p.id for p in data.junction.phases}
    greens: list[tuple[str, float]] = []
    for ph in plan["phases"]:
        pid = phase_of_groups[frozenset(map(str, ph["signal_groups"]))]
        greens.append((pid, float(ph["green_s"])))
    yellow_s, all_red_s = float(plan["yellow_s"]), float(plan["all_red_s"])
    steps: list[ProgramStep] = []
    for i, (pid, green_s) in enumerate(greens):
        state = data.green_states[pid]
        following = data.green_states[greens[(i + 1) % len(greens)][0]]
        yellow, red = transition_states(state, following)
        steps.append(ProgramStep(green_s, state, pid))
        if yellow_s >= MIN_STEP_S:
            steps.append(ProgramStep(yellow_s, yellow, f"{pid}-yellow"))
        if all_red_s >= MIN_STEP_S:
            steps.append(ProgramStep(all_red_s, red, f"{pid}-allred"))
    return steps
