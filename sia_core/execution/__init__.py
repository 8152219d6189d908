"""Running a harness on a split: sandbox, gateway, shards, the evaluator, trajectories, trials."""
