"""Runtime checks: the check primitive, the checkify interpreter, its rules and the Error value."""

# The rules for control flow and custom derivatives register themselves with the checkify
# interpreter on import; importing any module of this package runs this first.
from foldax.transforms.checks import control, custom  # noqa: F401
