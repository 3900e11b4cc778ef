"""The read side: the query service answering ``<resource>.list`` requests."""
