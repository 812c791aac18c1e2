"""Inventory sync: one planner reconciles instances and volumes with what their cloud lists."""
