"""Best-of-N behaviour cloning (rejection-sampling fine-tuning) for the sia weights lever"""
