"""Kernel modules: ``core`` (in kernel.py), ``opt``, ``loss`` and ``cb``; each answers the commands naming it."""
