"""PPO with GAE (value head, token-level advantages) for the sia weights lever"""
