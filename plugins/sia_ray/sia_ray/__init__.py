"""sia on a Ray cluster: `--sandbox ray` and `--policy-host ray`."""
