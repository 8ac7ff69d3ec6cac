"""How many threads llama.cpp gets when the user does not say (``n_threads=0``).

llama.cpp's threads spin at every barrier of a decode. With a thread per core on cores that
other processes also want, a thread that the OS has descheduled stalls all the others:
measured on this project's 2-core machine, a 70-token greedy solve took 1.5 s idle and 4.0 s
with both cores busy at two threads, 2.4 s at one (``benchmarks/bench_threads.py`` measures
the rule against both fixed choices).
Idle, one thread instead of two costs 5% on a single sequence and far more on wide batches
(decode of 32 sequences is compute-bound), so a fixed choice is wrong one way or the other.

The rule: **threads = the usable cores (``sched_getaffinity``) minus the cores other
processes keep busy, rounded, at least 1.**

- "Busy" is the machine's busy CPU time from ``/proc/stat`` less this process's own
  (``/proc/self/stat``), over the time elapsed, in cores: an account, not a snapshot. (An
  instantaneous count of runnable tasks, ``/proc/loadavg``, was tried first: on this VM it
  read one phantom task when idle, which cost an idle solve its second thread.)
- The engine starts with every usable core and takes its first reading at the first decode
  at least ``first`` seconds (0.25) after it was created, which covers the model's loading;
  then every ``interval`` seconds (2). A change is applied to the live context with
  ``llama_set_n_threads``; a context created later (growth) starts with the current count.

Where ``/proc`` cannot be read (not Linux), every usable core is used, llama.cpp's own
default. An explicit ``n_threads`` turns all of this off.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: seconds between two readings while the engine works, and before the first
INTERVAL = 2.0
FIRST = 0.25


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_for(cores: int, others_busy: float) -> int:
    """The rule: the cores others leave free, rounded, between 1 and ``cores``."""
    return max(1, min(cores, int(cores - others_busy + 0.5)))


def _cpu_times() -> tuple[float, float] | None:
    """(busy seconds of the whole machine, busy seconds of this process) so far."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        with open("/proc/self/stat") as f:
            # the command name may hold spaces: fields start after its closing parenthesis
            own = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] != "cpu":
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    values = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
    busy = sum(values[:3]) + sum(values[5:8])
    mine = int(own[11]) + int(own[12])  # utime, stime
    return busy / tick, mine / tick


class ThreadGovernor:
    """Chooses and revises the thread count (see the module docstring)."""

    def __init__(
        self,
        apply: Callable[[int], None] | None = None,
        *,
        cores: int | None = None,
        interval: float = INTERVAL,
        first: float = FIRST,
        clock: Callable[[], float] = time.monotonic,
        cpu_times: Callable[[], tuple[float, float] | None] = _cpu_times,
    ) -> None:
        self.cores = cores or usable_cores()
        self.apply = apply
        self.interval = interval
        self._clock = clock
        self._cpu_times = cpu_times
        self.threads = self.cores
        self.others_busy: float | None = None
        self._wait = first
        self._last = (clock(), cpu_times())

    def tick(self) -> None:
        """Called by the engine between decodes; cheap unless ``interval`` has passed."""
        now = self._clock()
        then, before = self._last
        if now - then < self._wait:
            return
        self._wait = self.interval
        after = self._cpu_times()
        self._last = (now, after)
        if before is None or after is None:
            return
        others = max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / (now - then)
        self.others_busy = others
        threads = threads_for(self.cores, others)
        if threads != self.threads:
            logger.debug(
                "llama.cpp threads: %d -> %d (other processes keep %.1f of %d cores busy)",
                self.threads,
                threads,
                others,
                self.cores,
            )
            self.threads = threads
            if self.apply is not None:
                self.apply(threads)
