"""Putting ivr400 onto a PBX: render, install, reload, verify (`asterisk`), and check what a running
Asterisk lacks (`check`). Callers pass the target; nothing here discovers a lab or reads a config file."""
