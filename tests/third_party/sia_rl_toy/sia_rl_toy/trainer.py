"""Trains nothing: the test only needs the algorithm to be discovered and offered."""

from sia_core.api import TrainResult


def train(batch, policy, config):
    return TrainResult(metrics={"samples": float(len(batch.samples))})
