"""CLIENT and its subcommands: ID, SETNAME, GETNAME, SETINFO, LIST, INFO, KILL."""
