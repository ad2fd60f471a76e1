"""``pumplab run``: the main job — a person wears the pump for a day.

Until the seed story (legacy vs secure pump under the same attacker) exists,
the main job is the open-loop day of :mod:`pumplab.sim.openloop`: a virtual
adult (adult#001) wears a Paradigm x23-class pump (secure mode) with a CGM, a
linked meter and a keychain remote over the in-memory link for 24 hours,
driven by the person model on the built-in ``standard-day`` meals, with the
pump's history kept durably in SQLite.  It prints the glycaemic outcome and
the result of verifying the history.

Files go into the output folder (``--out-dir``, default a new numbered folder
``pumplab-out/run-NNN``): ``trace.csv`` (per-minute trace, readable by
``pumplab metrics``), ``events.json``, ``outcome.json`` and the history
(``history-<patient>.sqlite``, or ``--history PATH``), which
``pumplab history show|verify|export`` read.  A history file is never
overwritten.  Exit code 0 when the history verifies, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pumplab.errors import InputError

__all__ = ["register"]

DEFAULT_OUT_ROOT = Path("pumplab-out")


def register(subparsers: Any) -> None:
    """Add the ``run`` command."""
    parser = subparsers.add_parser(
        "run",
        help="the main job: a virtual adult wears the pump for 24 h (open loop)",
        description=(
            "A virtual adult wears a Paradigm x23-class pump with a CGM, a linked meter and "
            "a remote for 24 hours, driven by the person model; prints the glycaemic outcome "
            "and verifies the pump's durable history."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                        help="output folder (default: a new pumplab-out/run-NNN)")
    parser.add_argument("--history", type=Path, default=None, metavar="PATH",
                        help="keep the pump's history at PATH (must not exist yet)")
    parser.add_argument("--mode", choices=("secure", "legacy"), default="secure",
                        help="the pump's protocol mode (default secure)")
    parser.add_argument("--patient", default="adult#001", metavar="NAME",
                        help="the standard subject (default adult#001)")
    parser.add_argument("--hours", type=float, default=24.0, metavar="H",
                        help="length of the run in hours (default 24)")
    parser.add_argument("--seed", type=int, default=1, metavar="S",
                        help="seed of every random stream (default 1)")
    parser.add_argument("--meals", default="standard-day", metavar="SCENARIO",
                        help="meal scenario: built-in name or TOML file (default standard-day)")
    parser.set_defaults(func=_run_command)


def _next_run_dir(root: Path) -> Path:
    number = 1
    while (root / f"run-{number:03d}").exists():
        number += 1
    return root / f"run-{number:03d}"


def _run_command(args: argparse.Namespace) -> int:
    from pumplab.sim.openloop import OpenLoopConfig
    from pumplab.sim.outcome import run_open_loop

    minutes = round(args.hours * 60)
    # 4.1 h is 246 minutes even though 4.1 * 60 is 245.99999999999997 in binary.
    if not (0 < minutes <= 14 * 24 * 60) or abs(args.hours * 60 - minutes) > 1e-6:
        raise InputError(f"{args.hours} h", source="--hours",
                         allowed="a whole number of minutes, up to 336 h (14 days)")
    if args.seed < 0:
        raise InputError(f"negative seed {args.seed}", source="--seed", allowed="integer >= 0")
    out_dir = args.out_dir if args.out_dir is not None else _next_run_dir(DEFAULT_OUT_ROOT)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("not a directory", source=str(out_dir),
                         allowed="a directory, or a path that does not exist yet")
    if args.history is not None:
        if args.history.is_dir():
            raise InputError("is a directory: --history names the history file itself",
                             source=str(args.history))
        if args.history.exists():
            raise InputError("a history already exists there; a pump's history is never "
                             "overwritten (choose a new path)", source=str(args.history))
    config = OpenLoopConfig(
        patients=(args.patient,),
        minutes=minutes,
        seed=args.seed,
        mode=args.mode,
        meals=args.meals,
        history_dir=out_dir,
        history_path=args.history,
    )
    outcome = run_open_loop(config, out_dir=out_dir)
    data = outcome.as_dict()
    data["out_dir"] = os.fspath(out_dir)
    tmp = out_dir / ".outcome.json.tmp"
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, out_dir / "outcome.json")
    if args.json:
        json.dump(data, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _print_outcome(data, out_dir)
    return 0 if outcome.histories_ok else 1


def _fmt(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _print_outcome(data: dict[str, Any], out_dir: Path) -> None:
    config = data["config"]
    hours = config["minutes"] / 60
    for p in data["patients"]:
        bg, cgm = p["bg_metrics"], p["cgm_metrics"]
        print(f"pumplab run: {p['patient']}, {hours:g} h open loop, {config['mode']} pump, "
              f"meals {config['meals']}, seed {config['seed']}")
        print(f"  plasma glucose (every minute): mean {_fmt(bg['mean_mg_dl'])} mg/dL, "
              f"min {_fmt(p['min_bg_mg_dl'])}, time in range 70-180 "
              f"{_fmt(bg['tir_70_180_pct'])} %, below 70 {_fmt(bg['tbr_70_pct'])} %, "
              f"below 54 {_fmt(bg['tbr_54_pct'])} %, above 180 {_fmt(bg['tar_180_pct'])} %")
        print(f"  CGM (every 5 min): mean {_fmt(cgm['mean_mg_dl'])} mg/dL, time in range "
              f"{_fmt(cgm['tir_70_180_pct'])} %, data present {_fmt(cgm['data_present_pct'])} %, "
              f"CV {_fmt(cgm['cv_pct'])} %, GMI {_fmt(cgm['gmi_pct'], 2)} %")
        insulin = p["insulin_u"]
        total = sum(insulin.values())
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(insulin.items()))
        print(f"  insulin delivered: {total:.2f} U ({parts})")
        print(f"  carbs eaten: {p['carbs_g']:.0f} g (rescue {p['rescue_carbs_g']:.0f} g); "
              f"severe hypo (<40): {p['first_minute_below_40'] or 'none'}")
        print(f"  alarms: {', '.join(p['alarms']) or 'none'}; unexpected boluses cancelled: "
              f"{p['cancelled_boluses']}")
        h = p["history"]
        verdict = ("verified" if h["ok"]
                   else f"FAILED at record {h['first_bad_seq']}: {h['reason']}")
        print(f"  history: {h['records']} records, hash chain {verdict} "
              f"(head {h['head_seq']}:{h['head_hash'][:16]}...)")
        print(f"    {p['history_path']}")
    print(f"  files: {out_dir}/trace.csv, events.json, outcome.json")
