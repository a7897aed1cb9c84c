"""Customer value: predictive CLV and probability of being alive (BG/NBD + Gamma-Gamma)."""
