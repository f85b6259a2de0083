"""The ``assistant`` subcommands' implementations; :mod:`assistant.cli` builds the parser and calls them.

Runtime code like the rest of the package: numpy, onnxruntime and sounddevice, the teacher only when a
command needs it, never ``training``.
"""
