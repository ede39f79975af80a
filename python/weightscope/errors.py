"""weightscope's exceptions.

``Error`` is the base of every error weightscope raises on purpose; ``ReadError`` is a
checkpoint or tensor that cannot be read (the message names the file and the tensor),
``OptionError`` a bad option (an unknown name, a value of the wrong type, a ``layers`` filter
that matches nothing), ``ShardError`` parts of a sharded run that do not join (another
checkpoint, other options, a share missing or given twice), and ``ClusterError`` a Ray
cluster that cannot be reached or a task whose worker died more often than it may be retried
(``weightscope.ray``). All but ``ClusterError`` are defined in the native module, which
raises them, and re-exported here.
"""

from ._native import Error, OptionError, ReadError, ShardError


class ClusterError(Error):
    """A Ray cluster that cannot be reached, or a task whose worker process died more times
    than ``max_retries`` allows (``weightscope.ray``)."""


# Pickled by reference as weightscope.ClusterError (as the native classes), so that Ray can
# carry it between processes.
ClusterError.__module__ = "weightscope"

__all__ = ["ClusterError", "Error", "OptionError", "ReadError", "ShardError"]
