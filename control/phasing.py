"""Turn a controller's wish ("serve green phase j") into safe signal states: minimum green,
yellow and all-red between greens. Pure state machine; the simulator applies its states."""

from __future__ import annotations

from dataclasses import dataclass

from control.layout import JunctionLayout, transition_states


@dataclass(frozen=True, slots=True)
class SignalStatus:
    phase: int  # the green phase shown, or the one being switched to
    in_transition: bool
    green_elapsed_s: float  # 0 during a transition
    red_since_s: tuple[float, ...]  # per phase: time its last green ended (or 0)


class PhaseDriver:
    def __init__(
        self,
        layout: JunctionLayout,
        min_green_s: float = 5.0,
        phase: int = 0,
        green_since_s: float = 0.0,
    ) -> None:
        """Starts showing green `phase`, green since `green_since_s` (for the minimum green)."""
        self.layout = layout
        self.min_green_s = min_green_s
        self._phase = phase
        self._target = phase
        self._green_start_s = green_since_s
        self._transition_end_s: float | None = None
        self._red_end_s = 0.0
        self._red_since = [0.0] * len(layout.green_states)
        self._red_state = ""
        self._red_shown = True
        self.switches = 0

    def status(self, now_s: float) -> SignalStatus:
        busy = self._transition_end_s is not None
        elapsed = 0.0 if busy else now_s - self._green_start_s
        return SignalStatus(self._target, busy, elapsed, tuple(self._red_since))

    def request(self, phase: int, now_s: float) -> str | None:
        """Ask for green phase `phase`; returns the new state string when the lights change."""
        if self._transition_end_s is not None or phase == self._phase:
            return None
        if not 0 <= phase < len(self.layout.green_states):
            return None
        if now_s - self._green_start_s < self.min_green_s:
            return None
        yellow, red = transition_states(
            self.layout.green_states[self._phase], self.layout.green_states[phase]
        )
        self._red_since[self._phase] = now_s
        self._target = phase
        self._red_end_s = now_s + self.layout.yellow_s
        self._transition_end_s = self._red_end_s + self.layout.all_red_s
        self._red_state = red
        self._red_shown = False
        self.switches += 1
        return yellow

    def tick(self, now_s: float) -> str | None:
        """Advance time; returns a state string when the lights change."""
        if self._transition_end_s is None:
            return None
        if now_s >= self._transition_end_s:
            self._transition_end_s = None
            self._phase = self._target
            self._green_start_s = now_s
            return self.layout.green_states[self._phase]
        if self.layout.all_red_s > 0 and not self._red_shown and now_s >= self._red_end_s:
            self._red_shown = True
            return self._red_state
        return None
