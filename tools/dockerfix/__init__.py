"""The parts of tools/docker_security_fixes.py, one module per kind of file."""
