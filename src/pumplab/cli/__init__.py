"""The ``pumplab`` command line.  See :mod:`pumplab.cli.main`."""
