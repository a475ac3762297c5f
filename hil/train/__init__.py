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
LOGITS = ("counts", "log-counts", "log-log-counts")  # the loss's scores (trainer.class_logits)
DECODES = ("sum", "log-sum")  # class scores from output counts (hil.train.model.class_scores)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    from hil.errors import ConfigError

    if value not in allowed:
        raise ConfigError(name, value, "one of " + ", ".join(allowed))
    return value


def check_logits(logits: str) -> str:
    """`logits` if it is one of LOGITS, else a ConfigError naming the allowed ones."""
    return _one_of("logits", logits, LOGITS)


def check_decode(decode: str) -> str:
    """`decode` if it is one of DECODES, else a ConfigError naming the allowed ones."""
    return _one_of("decode", decode, DECODES)
