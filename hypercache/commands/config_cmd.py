"""CONFIG GET/SET/RESETSTAT/REWRITE over the typed configuration."""
