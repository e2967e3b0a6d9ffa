"""Figures of the desktop app, each against a reference measured in the same run: cold start to
the first dashboard paint, idle CPU, and the proportional memory (PSS) of all its processes
(the Rust process and WebKit's web and network processes) at rest and after a soak with codes
written to the followed log. The reference is the smallest WebKitGTK program showing the same
built UI (scripts/bench/reference_webview.py). Run by scripts/bench-desktop.sh inside Xvfb and
a private D-Bus session; prints a table, asserts nothing.
"""

import os
import pathlib
import re
import subprocess
import sys
import time

APP = os.environ["MSGOPS_APP"]
WORK = pathlib.Path(os.environ["BENCH_WORK"])
ROOT = pathlib.Path(__file__).resolve().parents[2]
IDLE_SECS = int(os.environ.get("IDLE_SECS", "60"))
SOAK_SECS = int(os.environ.get("SOAK_SECS", "60"))
SOAK_CODES = int(os.environ.get("SOAK_CODES", "100000"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def pss_kib(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            text = pathlib.Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        m = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        total += int(m.group(1)) if m else 0
    return total


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            fields = pathlib.Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def names(pids: list[int]) -> str:
    out = []
    for p in pids:
        try:
            out.append(pathlib.Path(f"/proc/{p}/comm").read_text().strip())
        except OSError:
            pass
    return ", ".join(sorted(set(out)))


def wait_line(proc: subprocess.Popen, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise SystemExit(f"bench: the process ended before `{pattern}`")
            continue
        if re.search(pattern, line):
            return line
    raise SystemExit(f"bench: no `{pattern}` within {timeout} s")


def idle(pids_of) -> tuple[float, int]:
    before = cpu_ticks(pids_of())
    time.sleep(IDLE_SECS)
    after = cpu_ticks(pids_of())
    return (after - before) / CLK_TCK / IDLE_SECS * 100, pss_kib(pids_of())


def codes_line(i: int) -> str:
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()) + ",000"
    return f"{ts} - services.otp_service - WARNING - SMS FALLBACK - OTP for +1416555{i % 10000:04d}: {100000 + i % 900000}\n"


def main() -> None:
    env = dict(os.environ)
    log = WORK / "backend.log"
    log.write_text("")
    config = WORK / "config.toml"
    config.write_text(f'[logs]\nfollow = ["{log}"]\n')
    env.update(MSGOPS_CONFIG=str(config), MSGOPS_DATA_DIR=str(WORK / "data"), RUST_LOG="info")

    # msgops: launch to the first dashboard paint (the app logs it), then idle, then the soak.
    launched = time.monotonic()
    app = subprocess.Popen([APP], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    line = re.sub(r"\x1b\[[0-9;]*m", "", wait_line(app, r"first dashboard paint", 60))
    found = re.search(r"since_launch_ms[=:]\s*(\d+)", line)
    if not found:
        raise SystemExit(f"bench: no start-up time in the app's line: {line!r}")
    painted_ms = int(found.group(1))
    wall_ms = int((time.monotonic() - launched) * 1000)
    time.sleep(5)
    app_cpu, app_pss = idle(lambda: tree(app.pid))
    app_names = names(tree(app.pid))
    # The soak: SOAK_CODES codes in the followed log over SOAK_SECS.
    batch = max(SOAK_CODES // max(SOAK_SECS, 1), 1)
    written, soak_start = 0, time.monotonic()
    with log.open("a") as f:
        while written < SOAK_CODES:
            f.write("".join(codes_line(written + i) for i in range(min(batch, SOAK_CODES - written))))
            f.flush()
            written += batch
            time.sleep(max(0.0, soak_start + written / SOAK_CODES * SOAK_SECS - time.monotonic()))
    time.sleep(5)
    soak_pss = pss_kib(tree(app.pid))
    app.terminate()
    try:
        app.wait(20)
    except subprocess.TimeoutExpired:
        app.kill()

    # The reference: WebKitGTK alone on the same page.
    page = (ROOT / "ui" / "dist" / "index.html").as_uri()
    launched = time.monotonic()
    ref = subprocess.Popen([sys.executable, str(ROOT / "scripts/bench/reference_webview.py"), page], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    wait_line(ref, r"^loaded", 60)
    ref_ms = int((time.monotonic() - launched) * 1000)
    time.sleep(5)
    ref_cpu, ref_pss = idle(lambda: tree(ref.pid))
    ref.terminate()
    ref.wait(20)

    mib = lambda kib: kib / 1024  # noqa: E731
    print()
    print(f"desktop figures ({APP}; idle {IDLE_SECS} s; soak {SOAK_CODES} codes over {SOAK_SECS} s)")
    print(f"  processes measured: {app_names}")
    print(f"  {'':34} {'msgops':>12} {'reference':>12} {'ratio':>7}")
    print(f"  {'launch to first dashboard paint':34} {painted_ms:>9} ms {ref_ms:>9} ms {painted_ms / ref_ms:>7.2f}")
    print(f"  {'  (launch to paint, seen outside)':34} {wall_ms:>9} ms")
    print(f"  {'idle CPU (% of one core)':34} {app_cpu:>11.2f}% {ref_cpu:>11.2f}% {app_cpu / ref_cpu if ref_cpu else float('nan'):>7.2f}")
    print(f"  {'PSS at rest, all processes':34} {mib(app_pss):>8.0f} MiB {mib(ref_pss):>8.0f} MiB {app_pss / ref_pss:>7.2f}")
    print(f"  {'PSS after the soak':34} {mib(soak_pss):>8.0f} MiB")
    print("  reference: the smallest WebKitGTK window showing the same built UI (no backend, no data)")


if __name__ == "__main__":
    main()
