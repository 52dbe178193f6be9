"""The neuron package's logger: which backend runs, kernel builds (one line each, on stderr).

Messages go to ``logging.getLogger("spikeforge.neuron")``, which prints ``[spikeforge] ...``
lines on stderr at level INFO by itself (backend choices matter for speed, and a silent
30-second kernel build looks like a hang). Silence it with
``logging.getLogger("spikeforge.neuron").setLevel(logging.WARNING)``; attach your own
handlers to it to route the lines elsewhere.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["logger", "once"]


class _StderrHandler(logging.StreamHandler):
    """Writes to the *current* ``sys.stderr`` (so redirections made after import are honoured)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


logger = logging.getLogger("spikeforge.neuron")
if not logger.handlers:
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("[spikeforge] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

_said: set[tuple] = set()


def once(key: tuple, level: int, msg: str, *args) -> None:
    """Log ``msg`` the first time ``key`` is seen in this process."""
    if key not in _said:
        _said.add(key)
        logger.log(level, msg, *args)
