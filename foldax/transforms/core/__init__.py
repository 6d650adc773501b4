"""The interpreter core every transformation shares: tracing to a Program, folding passes, the
Interpreter and higher-order primitives."""
