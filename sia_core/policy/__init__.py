"""The local policy: an open-weight task model served to the task agent, with LoRA."""
