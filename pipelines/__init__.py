"""The commands as chains of builder and lipreader stages: progress, parallelism, resume."""
