"""sia-modal: the `modal` sandbox (sia_modal.plugin registers it; modal is imported only
when a sandbox is made)."""
