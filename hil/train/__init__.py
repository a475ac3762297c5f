"""Training through the simulator (issue 10 sections 2, 5, 6).

hil.train.model     the trained-network artifact (hil.model/1: JSON + NPZ)
hil.train.network   the network under the chip's constraints (fan-in, sign, 4-bit grid, cores)
hil.train.robust    the mismatch prior, noisy instances, Buchel et al.'s adversarial attack
hil.train.trainer   BPTT with checkpoints and resume: train(TrainConfig, out)
hil.train.evaluate  accuracy over emulated chips in simulation, paired confidence intervals
hil.train.nir       NIR interchange: import LIF/CubaLIF graphs, export trained networks
hil.train.cli       `hil train` (`hil evaluate` is hil.deploy's)
"""

MODES = ("none", "noise", "adversarial")  # robustness modes (hil.train.robust)
LOGITS = ("counts", "log-counts")  # what the loss's softmax scores (hil.train.trainer.class_logits)


def check_logits(logits: str) -> str:
    """`logits` if it is one of LOGITS, else a ConfigError naming the allowed ones."""
    from hil.errors import ConfigError

    if logits not in LOGITS:
        raise ConfigError("logits", logits, "one of " + ", ".join(LOGITS))
    return logits
