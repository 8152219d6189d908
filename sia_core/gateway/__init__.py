"""The model gateway the task agent talks to, and the task models behind it."""
