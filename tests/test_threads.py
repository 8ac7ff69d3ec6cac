"""llama.cpp's thread count follows the load (``ponder.backends.llamacpp.threads``): the rule,
the first reading, revisions as the load changes, and /proc read for real."""

from __future__ import annotations

import sys

import pytest

from ponder.backends.llamacpp.threads import ThreadGovernor, _cpu_times, threads_for


@pytest.mark.parametrize(
    ("cores", "others", "threads"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 2.0, 1), (2, 7.0, 1), (16, 3.2, 13), (1, 0, 1)],
)
def test_threads_are_the_cores_others_leave_free(cores: int, others: float, threads: int) -> None:
    assert threads_for(cores, others) == threads


class Machine:
    """A fake clock and CPU counters: ``others`` cores busy outside this process."""

    def __init__(self) -> None:
        self.now = 0.0
        self.busy = 0.0
        self.mine = 0.0
        self.others = 0.0
        self.readable = True

    def run(self, seconds: float, mine: float) -> None:
        self.now += seconds
        self.mine += mine * seconds
        self.busy += (mine + self.others) * seconds

    def times(self) -> tuple[float, float] | None:
        return (self.busy, self.mine) if self.readable else None


def test_the_count_follows_the_load_and_is_applied() -> None:
    machine, applied = Machine(), []
    governor = ThreadGovernor(
        applied.append,
        cores=2,
        clock=lambda: machine.now,
        cpu_times=machine.times,
    )
    assert governor.threads == 2  # every core until the first reading
    machine.run(0.3, mine=1.0)  # the model loads: idle otherwise
    governor.tick()  # the first reading comes after 0.25 s
    assert (governor.threads, applied) == (2, []) and governor.others_busy == pytest.approx(0)
    machine.others = 2.0  # two busy loops arrive
    machine.run(1.0, mine=0.7)
    governor.tick()  # within the 2 s interval: nothing read
    assert (governor.threads, applied) == (2, [])
    machine.run(1.5, mine=0.7)
    governor.tick()
    assert governor.threads == 1 and applied == [1]
    assert governor.others_busy == pytest.approx(2.0)
    machine.run(2.5, mine=0.7)
    governor.tick()
    assert applied == [1]  # unchanged: not applied again
    machine.others = 0.1  # they leave
    machine.run(2.5, mine=1.9)
    governor.tick()
    assert governor.threads == 2 and applied == [1, 2]


def test_a_loaded_start_drops_at_the_first_reading_and_unreadable_counters_change_nothing() -> None:
    machine, applied = Machine(), []
    machine.others = 2.0
    loaded = ThreadGovernor(
        applied.append, cores=2, clock=lambda: machine.now, cpu_times=machine.times
    )
    machine.run(0.3, mine=0.6)
    loaded.tick()
    assert loaded.threads == 1 and applied == [1]
    machine.readable = False
    blind = ThreadGovernor(cores=4, clock=lambda: machine.now, cpu_times=machine.times)
    machine.run(5.0, mine=0.0)
    blind.tick()
    assert blind.threads == 4  # no /proc: every core, llama.cpp's default


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_proc_is_read_for_real() -> None:
    times = _cpu_times()
    assert times is not None
    busy, mine = times
    assert busy >= mine >= 0
