"""weightscope's exceptions.

``Error`` is the base of every error weightscope raises on purpose; ``ReadError`` is a
checkpoint or tensor that cannot be read (the message names the file and the tensor), and
``OptionError`` a bad option (an unknown name, a value of the wrong type, a ``layers`` filter
that matches nothing). They are defined in the native module, which raises them, and
re-exported here.
"""

from ._native import Error, OptionError, ReadError

__all__ = ["Error", "OptionError", "ReadError"]
