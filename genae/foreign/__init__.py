"""Readers for weight formats genae does not write. Each reads data only: nothing a file names is imported or
run (plugins turn what is read into their own architectures)."""
