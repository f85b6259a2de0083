"""The ``training`` subcommands, one module per area; :mod:`training.cli` puts their parsers together.

Each module holds its subcommands' parsers and thin ``cmd_*`` functions that call into the stage modules,
so the command line stays one small file and no stage imports it.
"""
