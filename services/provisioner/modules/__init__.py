"""Adapter modules: the installed adapters, and enabling or disabling one at runtime."""
