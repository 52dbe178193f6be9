"""The reproduction study's networks, datasets and command, registered as a plug-in of the library.

The library never imports :mod:`spikeforge.reproduce` (nothing below it may). The study's pieces
reach the registries the way a third-party package's do, through :func:`register`, which runs

* from this package's own ``spikeforge.plugins`` entry point (``pyproject.toml``), on the first
  registry lookup of any process, so that ``spikeforge train`` of a study config finds them;
* when the study runs (:mod:`spikeforge.reproduce` calls it on import), so that a source tree
  without the installed entry point works too.

It registers once per process, whichever comes first.
"""

from __future__ import annotations

__all__ = ["register"]

_registered = False


def register() -> None:
    """Register the study's models (:mod:`.models`), datasets (:mod:`.data`) and its ``spikeforge reproduce``
    command (:mod:`.command`); later calls do nothing."""
    global _registered
    if _registered:
        return
    _registered = True  # first: registering looks the registries up, which may load this plug-in again
    from . import command, data, models

    models.register()
    data.register()
    command.register()
