#!/usr/bin/env python3
"""A stand-in for the incident's backend: concurrent OTP requests logged with Python's standard
`logging`, under log rotation that nobody here wrote (the standard library's handlers and the
real logrotate(8)).

Each request logs, through the logger `services.otp_service` in the backend's format
(`%(asctime)s - %(name)s - %(levelname)s - %(message)s`):

    OTP created for phone: 4165550471          (INFO)
    ... awaits its "database" (0-20 ms) ...
    OTP Code: 589503                           (INFO, the console provider: no recipient)
or, for some requests, instead of the last line:
    SMS FALLBACK - OTP for +14165550471: 589503  (WARNING, the fallback: recipient on the line)

so that with several workers the announcements and the code lines interleave. Every code is
distinct (a duplicate report is then detectable), and each one is written, after it was logged,
to the ground-truth file as one JSON line `{"code": ..., "recipient": <10 digits>, "source":
"console"|"sms_fallback"}` -- not through logging.

Workers: `--threads N` (threading) or `--tasks N` (asyncio tasks in one thread).
Handlers (`--handler`):
  rotating  RotatingFileHandler with a small maxBytes: rotates by rename many times
  timed     a TimedRotatingFileHandler whose interval is `--rotate-ms` (the standard library's
            rename rotation; `when='S'` cannot rotate more often than once a second)
  watched   WatchedFileHandler: reopens the path when the file there changed
  plain     FileHandler: never reopens
`--logrotate copytruncate|create` also runs the real logrotate (`logrotate -f -s STATE CONF`,
with a generated configuration) `--logrotate-runs` times, every `--logrotate-every-ms`, while
the workers write. With `create`, a plain FileHandler keeps writing to the renamed file;
WatchedFileHandler reopens the new one.

`--quiet-ms` makes every worker pause halfway (a quiet night): a reader that lets go of a
renamed file once it has been quiet for a while loses what a writer that never reopens writes
after the pause.

Prints one JSON summary line on stdout at the end; exits non-zero if logrotate failed.
"""

import argparse
import asyncio
import json
import logging
import logging.handlers
import os
import random
import shutil
import subprocess
import sys
import threading
import time

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
LOGGER_NAME = "services.otp_service"


class FastTimedRotatingFileHandler(logging.handlers.TimedRotatingFileHandler):
    """TimedRotatingFileHandler rotating every `interval_ms` instead of at least every second.

    The rollover itself (close, rename to `<name>.<time>`, reopen) is the standard library's;
    only when it happens and the rotated name (made unique: two rotations can fall in the same
    second) are changed.
    """

    def __init__(self, filename, interval_ms):
        self._interval_s = interval_ms / 1000.0
        self._count = 0
        super().__init__(filename, when="S", interval=1, backupCount=0, encoding="utf-8")
        self.namer = self._unique_name
        self.rolloverAt = self.computeRollover(time.time())

    def _unique_name(self, default_name):
        self._count += 1
        return f"{default_name}.{self._count:04d}"

    def computeRollover(self, currentTime):
        # The standard version adds the interval to a whole second; ours is shorter than one.
        return time.time() + self._interval_s

    def shouldRollover(self, record):
        return time.time() >= self.rolloverAt


def make_handler(kind, path, max_bytes, rotate_ms):
    if kind == "rotating":
        return logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=1000, encoding="utf-8"
        )
    if kind == "timed":
        return FastTimedRotatingFileHandler(path, rotate_ms)
    if kind == "watched":
        return logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    if kind == "plain":
        return logging.FileHandler(path, encoding="utf-8")
    raise SystemExit(f"unknown handler {kind!r}")


class Truth:
    """The ground truth: one JSON line per code, written outside logging."""

    def __init__(self, path):
        self._file = open(path, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self.count = 0

    def record(self, code, recipient, source):
        with self._lock:
            self._file.write(
                json.dumps({"code": code, "recipient": recipient, "source": source}) + "\n"
            )
            self._file.flush()
            self.count += 1

    def close(self):
        self._file.close()


class Requests:
    """Distinct codes and phone numbers, from a seeded generator, safe across threads."""

    def __init__(self, seed, fallback_ratio):
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._codes = set()
        self._phones = set()
        self._fallback_ratio = fallback_ratio

    def new(self):
        with self._lock:
            while True:
                phone = str(self._rng.randint(2_000_000_000, 9_999_999_999))
                if phone not in self._phones:
                    self._phones.add(phone)
                    break
            while True:
                code = f"{self._rng.randint(0, 999_999):06d}"
                if code not in self._codes:
                    self._codes.add(code)
                    break
            fallback = self._rng.random() < self._fallback_ratio
            db_wait = self._rng.uniform(0.0, 0.020)
            return phone, code, fallback, db_wait


def log_code(log, truth, phone, code, fallback):
    if fallback:
        log.warning("SMS FALLBACK - OTP for +1%s: %s", phone, code)
        truth.record(code, phone, "sms_fallback")
    else:
        log.info("OTP Code: %s", code)
        truth.record(code, phone, "console")


def thread_worker(log, truth, reqs, n, pause, quiet):
    for i in range(n):
        if i == n // 2:
            time.sleep(quiet)  # a quiet spell: nothing is logged
        phone, code, fallback, db_wait = reqs.new()
        log.info("OTP created for phone: %s", phone)
        time.sleep(db_wait)  # the request awaits its database
        log_code(log, truth, phone, code, fallback)
        time.sleep(pause)


async def task_worker(log, truth, reqs, n, pause, quiet):
    for i in range(n):
        if i == n // 2:
            await asyncio.sleep(quiet)  # a quiet spell: nothing is logged
        phone, code, fallback, db_wait = reqs.new()
        log.info("OTP created for phone: %s", phone)
        await asyncio.sleep(db_wait)  # the request awaits its database
        log_code(log, truth, phone, code, fallback)
        await asyncio.sleep(pause)


async def run_tasks(log, truth, reqs, workers, n, pause, quiet):
    await asyncio.gather(
        *(task_worker(log, truth, reqs, n, pause, quiet) for _ in range(workers))
    )


def find_logrotate():
    for candidate in ("/usr/sbin/logrotate", shutil.which("logrotate")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class Logrotate(threading.Thread):
    """Runs the real logrotate on the log several times, with a generated configuration."""

    def __init__(self, logrotate, log_path, mode, runs, every_s):
        super().__init__(daemon=True)
        log_path = os.path.abspath(log_path)
        work = os.path.dirname(log_path)
        self.conf = os.path.join(work, "logrotate.conf")
        self.state = os.path.join(work, "logrotate.state")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(
                f'"{log_path}" {{\n'
                f"    {mode}\n"
                "    rotate 100\n"
                "    missingok\n"
                "    ifempty\n"
                "    nocompress\n"
                "}\n"
            )
        # logrotate ignores a configuration writable by group or others.
        os.chmod(self.conf, 0o644)
        self.cmd = [logrotate, "-f", "-s", self.state, self.conf]
        self.runs = runs
        self.every_s = every_s
        self.done = 0
        self.errors = []

    def run(self):
        for _ in range(self.runs):
            time.sleep(self.every_s)
            result = subprocess.run(self.cmd, capture_output=True, text=True)
            if result.returncode != 0:
                self.errors.append(
                    f"{' '.join(self.cmd)} exited with {result.returncode}: "
                    f"{result.stderr.strip()}"
                )
            else:
                self.done += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--log", required=True, help="the log file the handler writes")
    p.add_argument("--truth", required=True, help="ground truth: one JSON line per code")
    workers = p.add_mutually_exclusive_group()
    workers.add_argument("--threads", type=int, help="workers as threads")
    workers.add_argument("--tasks", type=int, help="workers as asyncio tasks")
    p.add_argument("--handler", choices=["rotating", "timed", "watched", "plain"], default="plain")
    p.add_argument("--requests", type=int, default=60, help="requests per worker")
    p.add_argument("--pause-ms", type=float, default=10, help="pause between requests per worker")
    p.add_argument(
        "--quiet-ms", type=float, default=0,
        help="halfway through, every worker logs nothing for this long (a quiet spell)",
    )
    p.add_argument("--fallback-ratio", type=float, default=0.25)
    p.add_argument("--max-bytes", type=int, default=4096, help="rotating: rotate past this size")
    p.add_argument("--rotate-ms", type=int, default=250, help="timed: rotation interval")
    p.add_argument("--logrotate", choices=["copytruncate", "create"])
    p.add_argument("--logrotate-runs", type=int, default=5)
    p.add_argument("--logrotate-every-ms", type=int, default=300)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--thread-names", action="store_true",
                   help="tag each line with [%%(threadName)s], for a correlation pattern")
    args = p.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    handler = make_handler(args.handler, args.log, args.max_bytes, args.rotate_ms)
    fmt = LOG_FORMAT
    if args.thread_names:
        fmt = "%(asctime)s - [%(threadName)s] - %(name)s - %(levelname)s - %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    log = logging.getLogger(LOGGER_NAME)
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False

    # The backend started two minutes ago: its start line leads the log, as in a real one (a
    # log's first minute attributes no recipient to codes that do not name it).
    start = log.makeRecord(LOGGER_NAME, logging.INFO, __file__, 0,
                           "AWS SNS initialized as PRIMARY SMS provider", None, None)
    start.created -= 120
    handler.handle(start)

    truth = Truth(args.truth)
    reqs = Requests(seed, args.fallback_ratio)
    pause = args.pause_ms / 1000.0
    quiet = args.quiet_ms / 1000.0

    rotator = None
    if args.logrotate:
        logrotate = find_logrotate()
        if logrotate is None:
            print("logrotate(8) not found (apt-get install logrotate)", file=sys.stderr)
            return 3
        rotator = Logrotate(
            logrotate, args.log, args.logrotate, args.logrotate_runs,
            args.logrotate_every_ms / 1000.0,
        )
        rotator.start()

    started = time.monotonic()
    if args.tasks:
        mode, workers_n = "tasks", args.tasks
        asyncio.run(run_tasks(log, truth, reqs, args.tasks, args.requests, pause, quiet))
    else:
        mode, workers_n = "threads", args.threads or 8
        threads = [
            threading.Thread(
                target=thread_worker, args=(log, truth, reqs, args.requests, pause, quiet)
            )
            for _ in range(workers_n)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - started
    if rotator is not None:
        rotator.join()
    handler.close()
    truth.close()

    summary = {
        "written": truth.count,
        "workers": workers_n,
        "mode": mode,
        "handler": args.handler,
        "logrotate": args.logrotate,
        "logrotate_runs": rotator.done if rotator else 0,
        "seconds": round(elapsed, 2),
        "seed": seed,
    }
    print(json.dumps(summary), flush=True)
    if rotator is not None and rotator.errors:
        for e in rotator.errors:
            print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
