"""Task names -> constructors."""

from __future__ import annotations

from hil.errors import ConfigError
from hil.tasks.base import Task
from hil.tasks.digits import digits
from hil.tasks.frozen_noise import frozen_noise

TASKS = ("frozen-noise", "frozen-noise-16", "digits")


OPTIONS = {
    "frozen-noise": ("duration",),
    "frozen-noise-16": ("duration", "jitter", "thin", "n_train", "n_val", "n_test"),
    "digits": ("T", "max_rate"),
}


def get_task(name: str, seed: int = 0, **options: float) -> Task:
    """The task called `name` (one of TASKS) with its splits fixed by `seed`; `options` change
    the defaults (OPTIONS[name]: e.g. a shorter frozen-noise `duration` for quick tests)."""
    if name not in TASKS:
        raise ConfigError("task", name, "one of " + ", ".join(TASKS))
    unknown = sorted(set(options) - set(OPTIONS[name]))
    if unknown:
        raise ConfigError(f"{name} options", unknown, "any of " + ", ".join(OPTIONS[name]))
    if name == "frozen-noise":
        return frozen_noise(2, seed, **options)  # type: ignore[arg-type]
    if name == "frozen-noise-16":
        return frozen_noise(16, seed, repeats=True, **options)  # type: ignore[arg-type]
    return digits(seed, **options)  # type: ignore[arg-type]
