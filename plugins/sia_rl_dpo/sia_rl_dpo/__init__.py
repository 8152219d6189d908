"""DPO over preference pairs from each item's runs, for the sia weights lever"""
