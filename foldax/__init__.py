"""foldax: functional pytree transformations on JAX, with NumPy leaves folded as constants."""
from foldax import errors
from foldax.errors import FoldaxError
