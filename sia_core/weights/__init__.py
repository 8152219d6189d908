"""The weights lever's parts below the execution layer: the RL contract, trainer
loading, reward shapes, rollout plans, shared rollouts (the rounds themselves:
sia_core.levers.weights)."""
