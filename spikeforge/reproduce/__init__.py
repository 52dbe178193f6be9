"""The reproduction study: each claim of the two papers tested on the embedded data.

``spikeforge reproduce [--quick|--full] [--out DIR] [--claims 1 2 ...] [--seeds N]`` or::

    from spikeforge.reproduce import run_study
    reports = run_study("reproduce-out", budget="quick", claims=[1, 2])

Modules, one job each:

* :mod:`~spikeforge.reproduce.tasks`: base configs of the tasks and the quick / full budgets;
* :mod:`~spikeforge.reproduce.data` and :mod:`~spikeforge.reproduce.models`: the datasets and networks the study
  adds;
* :mod:`~spikeforge.analysis.sweep` (shared with the analyses): resumable, optionally parallel engine runs,
  one per arm and seed;
* :mod:`~spikeforge.reproduce.stats`: mean ± std, epochs to a target, the verdict rule;
* :mod:`~spikeforge.reproduce.claims`: one module per claim (arms + analysis);
* :mod:`~spikeforge.reproduce.report` / :mod:`~spikeforge.reproduce.plots`: tables, summary, figures;
* :mod:`~spikeforge.reproduce.study` / :mod:`~spikeforge.reproduce.command`: the whole study and its command;
* :mod:`~spikeforge.reproduce.plugin`: registers the study's networks, datasets and command (the library
  never imports the study: it is a plug-in, through this package's own ``spikeforge.plugins`` entry point).
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_study"]


def run_study(*args: Any, **kwargs: Any) -> Any:
    """See :func:`spikeforge.reproduce.study.run_study` (imported on first use: it loads torch)."""
    from .study import run_study as _run

    return _run(*args, **kwargs)
