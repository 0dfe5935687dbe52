"""Server commands: INFO, TIME, LASTSAVE, SHUTDOWN, DBSIZE-free server introspection."""
