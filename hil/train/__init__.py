"""Training through the simulator (issue 10): the trained-network artifact is hil.train.model."""
