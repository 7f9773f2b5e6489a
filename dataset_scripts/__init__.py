"""Builders that turn source annotations into Hub datasets: M-VAE (from CUVA), stage-1 pre-tuning, synthetic."""
