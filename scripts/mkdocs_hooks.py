"""mkdocs hook (mkdocs.yml, ``hooks:``): the API reference shows each parameter's own default.

griffe's NumPy docstring parser gives every name of a grouped entry
(``initial_variance, min_variance, max_variance : float > 0``) the first name's default, so
the built page said ``min_variance`` defaults to 225.  This wraps its parameter reader and
takes each parameter's default from the signature.  Where griffe's internals have moved, the
hook does nothing (the page is then as griffe draws it).
"""

from __future__ import annotations

try:
    from griffe._internal.docstrings import numpy as _numpy
except ImportError:  # another griffe layout: leave it alone
    _numpy = None

if _numpy is not None and hasattr(_numpy, "_read_parameters"):
    _original = _numpy._read_parameters

    def _read_parameters(*args, **kwargs):
        parameters, offset = _original(*args, **kwargs)
        docstring = args[1] if len(args) > 1 else kwargs.get("docstring")
        signature = getattr(getattr(docstring, "parent", None), "parameters", None)
        for p in parameters:
            try:
                p.value = signature[p.name].default
            except (KeyError, TypeError, AttributeError):
                pass
        return parameters, offset

    _numpy._read_parameters = _read_parameters
