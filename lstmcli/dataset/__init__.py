"""Turning a labelled CSV into the prepared arrays of a run, in memory or in shards."""
