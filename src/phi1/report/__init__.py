"""The HTML report of a pipeline run."""
