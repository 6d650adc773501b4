"""Random keys: keyed draws, key threading and key-reuse detection."""
