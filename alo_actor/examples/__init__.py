"""Handler modules that ship with the package, ready for ``alo serve --app``."""
