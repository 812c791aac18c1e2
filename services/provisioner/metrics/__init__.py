"""Metric samples as events: those the provisioner reads from its clouds, and those agents push."""
