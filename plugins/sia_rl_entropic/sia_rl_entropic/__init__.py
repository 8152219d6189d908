"""Entropic advantage weighting (softmax of reward within a group) for the sia weights lever"""
