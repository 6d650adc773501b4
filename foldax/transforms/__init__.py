"""Transformations of jaxprs: one folder per transformation, all on the interpreter core in ``core/``."""
