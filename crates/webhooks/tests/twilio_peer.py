"""Twilio's own RequestValidator (the `twilio` package), for crates/webhooks/tests/twilio_reference.rs.

stdin: {"ops": [op, ...]}, each op one of
    {"op": "sign", "token": t, "url": u, "params": [[name, value], ...]}
        -> {"signature": RequestValidator(t).compute_signature(u, params)}
    {"op": "hash", "body": b}
        -> {"hash": RequestValidator("").compute_hash(b)}
    {"op": "validate", "token": t, "url": u, "params": [[name, value], ...] | "body": b,
     "signature": s}
        -> {"valid": RequestValidator(t).validate(u, params or b, s)}
stdout: {"results": [result, ...]}, in the order of the ops.

Repeated names are passed as a multi-dict (getall), as Flask gives them to the validator.
Nothing secret is printed: the tokens are the test's own.
"""

import json
import sys

from twilio.request_validator import RequestValidator


class MultiDict(dict):
    """The part of Flask's MultiDict the validator uses."""

    def __init__(self, pairs):
        super().__init__()
        self._all = {}
        for name, value in pairs:
            self._all.setdefault(name, []).append(value)
            self.setdefault(name, value)

    def getall(self, name):
        return self._all[name]


def run(op):
    kind = op["op"]
    if kind == "sign":
        validator = RequestValidator(op["token"])
        return {"signature": validator.compute_signature(op["url"], MultiDict(op["params"]))}
    if kind == "hash":
        return {"hash": RequestValidator("unused").compute_hash(op["body"])}
    if kind == "validate":
        validator = RequestValidator(op["token"])
        params = op["body"] if "body" in op else MultiDict(op["params"])
        return {"valid": bool(validator.validate(op["url"], params, op["signature"]))}
    raise ValueError("unknown op %r" % kind)


def main():
    request = json.load(sys.stdin)
    json.dump({"results": [run(op) for op in request["ops"]]}, sys.stdout)


if __name__ == "__main__":
    main()
