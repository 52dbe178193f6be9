"""The sweep runner's run folders: a stale one is cleared, one another process trains into is left alone."""

from __future__ import annotations

import pytest

from spikeforge.analysis.sweep import train_run
from spikeforge.errors import RunFolderError
from spikeforge.train import runfolder as RF
from tests.test_faults import raw

TINY = raw(epochs=1)  # the fault suite's tiny run, one epoch of 3 steps


def test_a_stale_folder_is_cleared_and_trained(tmp_path):
    run_dir = tmp_path / "arm"
    run_dir.mkdir()
    (run_dir / RF.METRICS).write_text('{"epoch": 7}\n')  # an interrupted earlier run
    (run_dir / "leftover").mkdir()
    train_run(TINY, run_dir)
    assert [r[RF.EPOCH] for r in RF.read_metrics(run_dir)] == [1]
    assert not (run_dir / "leftover").exists() and RF.read_result(run_dir) is not None


def test_a_folder_in_use_by_another_training_is_not_touched(tmp_path):
    run_dir = tmp_path / "arm"
    run_dir.mkdir()
    (run_dir / RF.METRICS).write_text('{"epoch": 1}\n')
    with RF.RunLock(run_dir):  # another writer (a second sweep sharing the output folder)
        with pytest.raises(RunFolderError, match="in use by another training"):
            train_run(TINY, run_dir)
        assert (run_dir / RF.METRICS).read_text() == '{"epoch": 1}\n'
