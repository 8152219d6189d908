"""The one exception type whose message the CLI prints as a single line."""


class SiaError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do."""
