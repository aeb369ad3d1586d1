from __future__ import annotations

from control.layout import Approach, JunctionLayout, SignalLink, transition_states
from control.phasing import PhaseDriver


def layout(all_red_s: float = 0.0) -> JunctionLayout:
    links = (
        SignalLink(0, "n", "s", "s"),
        SignalLink(1, "n", "e", "l"),
        SignalLink(2, "w", "e", "s"),
    )
    app = {e: Approach(e, 1, 100.0, 13.9, (f"{e}.s",)) for e in ("n", "w")}
    return JunctionLayout("J", links, ("GgR".replace("R", "r"), "rrG"), app, 3.0, all_red_s)


def test_transition_states_yellow_then_red_and_keep_common_green() -> None:
    assert transition_states("GGr", "rGG") == ("yGr", "rGr")
    assert transition_states("Ggr", "rrG") == ("yyr", "rrr")


def test_served_edges_by_phase() -> None:
    lay = layout()
    assert lay.served_edges(0) == {"n"}
    assert lay.served_edges(1) == {"w"}


def test_driver_respects_min_green_yellow_and_all_red() -> None:
    drv = PhaseDriver(layout(all_red_s=2.0), min_green_s=5.0)
    assert drv.request(1, 3.0) is None  # min green not over
    assert drv.request(1, 5.0) == "yyr"
    st = drv.status(6.0)
    assert st.in_transition and st.phase == 1
    assert drv.request(0, 6.0) is None  # no change during a transition
    assert drv.tick(7.0) is None
    assert drv.tick(8.0) == "rrr"  # all-red after 3 s of yellow
    assert drv.tick(9.0) is None
    assert drv.tick(10.0) == "rrG"  # green after yellow + all-red
    st = drv.status(12.0)
    assert not st.in_transition and st.green_elapsed_s == 2.0
    assert st.red_since_s[0] == 5.0
    assert drv.switches == 1


def test_driver_ignores_unknown_and_same_phase() -> None:
    drv = PhaseDriver(layout(), min_green_s=0.0)
    assert drv.request(0, 10.0) is None
    assert drv.request(7, 10.0) is None
    assert drv.request(-1, 10.0) is None
