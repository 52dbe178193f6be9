"""The neuron package's logger: which backend runs, kernel builds (one line each).

Messages go to ``logging.getLogger("spikeforge.neuron")``. Like every library logger it has no handler of its
own and propagates: an application that configures logging (``logging.basicConfig(...)``, or the ``spikeforge``
command, which does so in its ``main``) decides where they go. Its level is INFO, because backend choices matter
for speed and a silent 30-second kernel build looks like a hang;
``logging.getLogger("spikeforge.neuron").setLevel(logging.WARNING)`` silences those lines.

A program that configures no logging at all would still lose them (Python's own last resort prints WARNING and
above only), so while no handler is reachable from this logger :func:`once` prints ``[spikeforge] ...`` on the
current ``sys.stderr`` itself, at the logger's level. Nothing is installed: the first handler anywhere up the
chain takes over.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["logger", "once"]

logger = logging.getLogger("spikeforge.neuron")
if logger.level == logging.NOTSET:  # an application's own setting, made before the import, stays
    logger.setLevel(logging.INFO)

_said: set[tuple] = set()


def once(key: tuple, level: int, msg: str, *args) -> None:
    """Log ``msg % args`` the first time ``key`` is seen in this process."""
    if key in _said:
        return
    _said.add(key)
    if logger.hasHandlers():
        logger.log(level, msg, *args)
    elif logger.isEnabledFor(level):  # logging is not configured: Python's last resort would drop INFO
        print("[spikeforge] " + (msg % args if args else msg), file=sys.stderr, flush=True)
