"""GRPO (group-normalised advantages) for the sia weights lever"""
