"""Training: trainer, optimizer and schedule, loader, parallelize, checkpoint state."""
