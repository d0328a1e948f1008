"""One module per input format; each registers itself with `simgap_core.io.registry`.

Drop a new module here to add a format: the registry imports every module of this package.
"""
