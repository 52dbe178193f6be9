"""A torchrun worker for the elastic-restart fault case (tests/test_faults.py; not collected by pytest).

    torchrun --nproc_per_node=2 --max-restarts=1 tests/faults_worker.py CONFIG RUN_DIR

On the first attempt, rank 1 kills itself with SIGKILL after epoch 2 (as an OOM killer or a
lost node would); torchrun then restarts the group, which must resume from the run's
last.pt by itself.
"""

import os
import signal
import sys

from spikeforge.train.config import load_config
from spikeforge.train.engine import train


def kill_rank1_after_epoch_2(epoch: int, record: dict) -> None:
    if os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0" and os.environ.get("RANK") == "1" and epoch == 1:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    train(load_config(sys.argv[1]), run_dir=sys.argv[2], callbacks=[kill_rank1_after_epoch_2])
