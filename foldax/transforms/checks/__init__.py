"""Runtime checks: the check primitive, the checkify interpreter, its rules and the Error value."""
