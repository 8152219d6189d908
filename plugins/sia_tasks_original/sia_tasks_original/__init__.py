"""The original SIA tasks on the original data, with this project's evaluators and harnesses."""
