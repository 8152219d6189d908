"""The offline harness lever: declared knobs and the search over them."""
