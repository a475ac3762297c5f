"""Tasks for training and evaluation (issue 10 section 1); nothing is downloaded.

    get_task(name, seed=0) -> Task        names: TASKS
    frozen-noise      the paper's task: 2 frozen Poisson patterns, 60 channels at 50 Hz, 500 ms,
                      dt 1 ms; metric: firing-rate ratio (and accuracy)
    frozen-noise-16   16 frozen patterns; every sample a jittered and thinned repeat, so accuracy
                      on the test split measures generalization, not memorization
    digits            scikit-learn's 8x8 handwritten digits, rate-coded (docs/training.md)

A Task holds spike-count tensors (samples, T, channels) uint8 and labels (samples,) int64 for the
validation and test splits (fixed by the seed), and draws training epochs with `train(epoch)`
(fresh spike draws per epoch where the task has them; the same for a given seed and epoch).
"""

from hil.tasks.base import Split, Task, accuracy, firing_rate_ratio
from hil.tasks.registry import TASKS, get_task

__all__ = ["TASKS", "Split", "Task", "accuracy", "firing_rate_ratio", "get_task"]
