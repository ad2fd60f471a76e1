"""Bring your own algorithm: the ``external`` controller and its node shim for oref0.

* :class:`ExternalController` — runs a command as one long-lived process and
  speaks ``pumplab.external/1`` with it: one JSON request line (oref0's CASE
  keys plus the raw ``glucose`` entries) and one JSON reply line (oref0's
  output keys) per cycle, with a deadline (:mod:`.protocol`, :mod:`.process`);
* :func:`oref0_shim_path` / :func:`oref0_shim_command` — the shipped node
  script that puts real oref0 in the loop unchanged.

docs/controllers.md documents the protocol, the timeout and the failures.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pumplab.control.external.controller import ExternalController, ExternalSettings, command_from
from pumplab.control.external.process import LineProcess
from pumplab.control.external.protocol import (
    SCHEMA,
    decision_from_reply,
    encode_request,
    parse_reply,
    request,
)

__all__ = [
    "SCHEMA",
    "ExternalController",
    "ExternalSettings",
    "LineProcess",
    "command_from",
    "decision_from_reply",
    "encode_request",
    "oref0_shim_command",
    "oref0_shim_path",
    "parse_reply",
    "request",
]


def oref0_shim_path() -> Path:
    """The node shim shipped with pumplab (``oref0_shim.js``, package data)."""
    return Path(str(resources.files(__name__).joinpath("oref0_shim.js")))


def oref0_shim_command(oref0_dir: str | Path, *, node: str = "node") -> tuple[str, ...]:
    """The command that runs real oref0 through the shim: ``oref0_dir`` is the installed
    ``oref0`` package (e.g. ``node_modules/oref0``)."""
    return (node, str(oref0_shim_path()), "--oref0", str(oref0_dir))
