"""Entry point of sia-rl-grpo: a cheap module, loaded with every sia command.

It registers nothing yet: the implementation lands with issue #3, and until
then `sia plugins` shows this package as installed with nothing registered rather
than offering something that does not work.
"""
