"""Automatic differentiation: forward mode, linearisation, transposition and the public grad/jvp/vjp/jacobian API."""
