"""A child process for the external-controller tests: ``python external_child.py MODE``.

Each mode is one behaviour of a process speaking (or failing to speak)
``pumplab.external/1``.  None of them sleeps: a "hang" blocks reading its
standard input, which pumplab never closes during the exchange, so it never
answers however fast or slow the machine is.

echo         answers every request: rate = 2 × profile.current_basal, duration 30,
             units 0.1, reason "echo <cycle> <number of glucose entries>", cycle echoed
garbage      answers "this is not json"
array        answers a JSON array
half         answers a rate without a duration
error        answers {"error": "no can do"}
wrong_cycle  answers with cycle + 1
nonsense     answers rate -1, duration 30 (valid JSON, impossible values)
two_lines    answers two lines for one request
long_line    answers one line of 5,000 bytes
hang         reads the request and never answers (blocks on its input)
partial      writes half a line, then blocks on its input
die          reads the request, writes "boom" to stderr and exits with code 3
die_at_start exits with code 4 before reading anything
flaky        answers the first request of each process (as echo), then exits with 5
noisy_stderr writes 2 MB to stderr, then answers as echo (a full stderr pipe must not block)
"""

from __future__ import annotations

import json
import sys


def echo(req: dict) -> dict:  # type: ignore[type-arg]
    return {"rate": 2 * req["profile"]["current_basal"], "duration": 30, "units": 0.1,
            "reason": f"echo {req['cycle']} {len(req['glucose'])}", "cycle": req["cycle"],
            "eventualBG": 123}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> None:
    mode = sys.argv[1]
    if mode == "die_at_start":
        sys.exit(4)
    if mode == "noisy_stderr":
        sys.stderr.write("x" * (2 << 20) + "\n")
        sys.stderr.flush()
    for answered, line in enumerate(sys.stdin):
        req = json.loads(line)
        if mode in ("echo", "noisy_stderr") or (mode == "flaky" and answered == 0):
            say(json.dumps(echo(req)))
        elif mode == "flaky":
            sys.exit(5)
        elif mode == "garbage":
            say("this is not json")
        elif mode == "array":
            say("[1, 2]")
        elif mode == "half":
            say(json.dumps({"rate": 1.0}))
        elif mode == "error":
            say(json.dumps({"error": "no can do"}))
        elif mode == "wrong_cycle":
            say(json.dumps({**echo(req), "cycle": req["cycle"] + 1}))
        elif mode == "nonsense":
            say(json.dumps({"rate": -1, "duration": 30}))
        elif mode == "two_lines":
            say(json.dumps(echo(req)))
            say(json.dumps(echo(req)))
        elif mode == "long_line":
            say(json.dumps({"reason": "x" * 5000}))
        elif mode == "hang":
            sys.stdin.read()  # blocks: the input stays open
        elif mode == "partial":
            sys.stdout.write('{"rate": 1.0, "dura')
            sys.stdout.flush()
            sys.stdin.read()
        elif mode == "die":
            sys.stderr.write("boom\n")
            sys.stderr.flush()
            sys.exit(3)
        else:
            sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
