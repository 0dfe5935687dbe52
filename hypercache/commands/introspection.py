"""COMMAND and its subcommands: the command table as clients read it."""
