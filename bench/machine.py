"""How much of the CPU the machine's host took while a bench ran: steal time, read from /proc/stat.

On a virtual machine the host may run other guests on the same cores. The
guest sees that time as *steal*, and a bench's figures fall with it while the
load average shows nothing. The benches print the share of CPU time stolen
during each measurement next to their figures, so that a low figure can be
told apart from a slow change. Where /proc/stat is missing (not Linux) the
share reads "n/a".
"""

from __future__ import annotations

from pathlib import Path

_STAT = Path("/proc/stat")
# The fields of the "cpu" line: user nice system idle iowait irq softirq steal (guest and guest_nice are in user).
_STEAL = 7


def cpu_times() -> tuple[int, int] | None:
    """All CPU time and stolen time so far, in clock ticks; None where /proc/stat is missing."""
    try:
        fields = _STAT.read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(value) for value in fields[:8]]
    return sum(ticks), ticks[_STEAL] if len(ticks) > _STEAL else 0


class StealWatch:
    """The share of CPU time stolen between ``start()`` (or creation) and ``share()``."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self._from = cpu_times()

    def share(self) -> str:
        now = cpu_times()
        if now is None or self._from is None or now[0] == self._from[0]:
            return "steal n/a"
        return f"steal {100 * (now[1] - self._from[1]) / (now[0] - self._from[0]):.1f} %"
