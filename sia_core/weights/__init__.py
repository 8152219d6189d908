"""The weights lever: rollouts, the RL contract, reward shapes, training plans."""
