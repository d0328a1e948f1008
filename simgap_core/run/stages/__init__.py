"""The analysis's stages, one module each; `simgap_core.run.pipeline` orders and runs them."""
