"""Offline sia tasks whose data is generated from a fixed seed: no download, no key."""
