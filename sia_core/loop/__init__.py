"""The generation loop and the run on disk: configuration, records, the keep rule."""
