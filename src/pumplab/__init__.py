"""pumplab: an open, secure-by-design insulin-pump system and its test bench.

``import pumplab`` is deliberately light: it imports no subpackage, so that the
command line and the tests pay only for what they use.  Subpackages:
:mod:`pumplab.physiology`, :mod:`pumplab.metrics`, :mod:`pumplab.therapy`,
:mod:`pumplab.devices`, :mod:`pumplab.link`, :mod:`pumplab.people`,
:mod:`pumplab.sim` and :mod:`pumplab.cli`.  See docs/architecture.md.
"""

from pumplab.errors import PumpLabError

__all__ = ["PumpLabError", "__version__"]

__version__ = "0.1.0"
