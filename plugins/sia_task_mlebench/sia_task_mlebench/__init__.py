"""MLE-bench competitions as sia tasks, and sia mlebench prepare"""
