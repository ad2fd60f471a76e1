"""The run report: one self-contained HTML file a clinician or an engineer can read.

:func:`render_report` turns a :class:`~pumplab.sim.results.RunResult` (from
the runner, or read back from a results store) into HTML;
:func:`write_report` writes it atomically, and PNG copies of the figures into
``png_dir`` when asked.  The page holds:

- the run's provenance, and a notice when a stand-in body produced it;
- the key numbers per arm (minimum BG, attacker insulin, time in range), each
  marked ``data-arm``/``data-key``/``data-value`` (and a stable ``id``,
  ``arm-<arm>-<key>``) with the exact value of the ``pumplab.run/1`` JSON;
- on a shared time axis, per patient and arm: plasma glucose over the target
  band with the no-attacker trace of the same seed, CGM readings, insulin
  (basal, boluses, attacker-caused doses in vermilion), carbs, alarms and
  radio events;
- the ambulatory glucose profile for runs of two days or more;
- the metrics table (per arm and per patient);
- for an attack matrix: the table of ``pumplab.attacks/1`` rows with 95 %
  intervals and a heat map of attack × mode × outcome.

It opens offline: no script, no external style sheet, font or image (SVG is
inline and draws text as paths), and a Content-Security-Policy that forbids
any fetch.  Figures come from matplotlib, imported only here.
"""

from pumplab.report._html import render_report, write_report

__all__ = ["render_report", "write_report"]
