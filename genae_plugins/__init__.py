"""genae's built-in plugins. Each sub-package registers itself through the ``genae.plugins`` entry points."""
