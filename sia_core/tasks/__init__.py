"""Task directories: loading a task and its task.toml, carving its splits, building task packs."""
