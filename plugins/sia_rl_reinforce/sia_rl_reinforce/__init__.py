"""REINFORCE with a leave-one-out baseline and a KL penalty, for the sia weights lever"""
