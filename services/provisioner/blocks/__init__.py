"""Launch blocks: the budgets of a project that currently forbid new launches within their scope."""
