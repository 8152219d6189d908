"""sia: self-improving AI through harness and weight updates."""

__version__ = "0.1.0"

import os as _os

# litellm fetches its model price table over the network at import unless told to use
# the copy in its wheel; sia reads prices offline. A user who wants the live table sets
# LITELLM_LOCAL_MODEL_COST_MAP=False.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
