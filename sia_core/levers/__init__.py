"""The levers that need the execution layer: the weights lever's training rounds."""
