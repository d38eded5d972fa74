#!/usr/bin/env python3
"""Figures 5 and 6 of the benchmark (bench/run.sh): the reset page of `pwreset serve`.

  5. password changes per second through the page (open the link, load the form, POST a new
     password: the whole flow a browser does) with 4 x cores clients, against the ideal
     cores / one argon2id hash (examples/argon2_once, measured in the same run). Target >= 0.8.
  6. median latency of GET requests of the form while POSTs keep every core hashing, against
     the median of the same GETs on the idle server. Target <= 3.

usage: page.py PWRESET ARGON2_ONCE WORKDIR [N_USERS]   (BENCH_REPEAT=N runs of figure 5, median)
Everything runs on 127.0.0.1 in WORKDIR; the server is stopped (SIGTERM) on exit. Standard
library only. Prints the two figure lines on stdout, diagnostics on stderr.
"""

import email
import email.policy
import glob
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

PASSWORD = "violet-harbour-tractor-41"
TIMEOUT = 30  # seconds for any one HTTP request
CLIENTS_PER_CORE = 4  # enough clients that a core never waits for one (saturation)
CSRF = re.compile(rb'name="csrf"[^>]*value="([^"]+)"')


def log(msg):
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(pw, work, *args):
    env = {"PATH": os.environ["PATH"], "HOME": work, "LANG": "C.UTF-8"}
    subprocess.run([pw, "--color", "never", "--config", f"{work}/pwreset.toml", *args],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)


def setup(pw, work, n, port):
    env = {"PATH": os.environ["PATH"], "HOME": work, "LANG": "C.UTF-8"}
    subprocess.run([pw, "init", "--dir", work], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    with open(f"{work}/users.csv", "w") as f:
        f.write("email,username\n")
        for i in range(1, n + 1):
            f.write(f"user{i}@example.com,user{i}\n")
    path = f"{work}/pwreset.toml"
    with open(path) as f:
        config = f.read()
    config = config.replace("http://localhost:8080/reset-password", f"http://127.0.0.1:{port}/reset-password")
    config += f'\n[serve]\nbind = "127.0.0.1:{port}"\naccess_log = false\n'
    with open(path, "w") as f:
        f.write(config)
    run(pw, work, "users", "import", f"{work}/users.csv")
    run(pw, work, "reset", "bulk", "--link", "--all", "--yes")


def tokens(work):
    found = []
    for name in sorted(glob.glob(f"{work}/outbox/*.eml")):
        with open(name, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",)).get_content()
        m = re.search(r"\?token=([A-Za-z0-9_-]{43})", text)
        if m:
            found.append(m.group(1))
    return found


class Server:
    def __init__(self, pw, work):
        env = {"PATH": os.environ["PATH"], "HOME": work, "LANG": "C.UTF-8"}
        self.proc = subprocess.Popen([pw, "--config", f"{work}/pwreset.toml", "serve"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line:
                break
            if "listening on " in line:
                threading.Thread(target=self.drain, daemon=True).start()
                return
        self.stop()
        raise SystemExit("bench: pwreset serve did not start listening within 30 s")

    def cpu(self):
        """CPU seconds (user + system) the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def drain(self):
        for _ in self.proc.stderr:
            pass

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Client:
    """One browser-like client on a keep-alive connection."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.cookie = None

    def request(self, method, path, body=None, site="same-origin"):
        headers = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": site,
                   "Sec-Fetch-Dest": "document", "User-Agent": "pwreset-bench"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        for value in resp.headers.get_all("Set-Cookie") or []:
            if value.startswith("pwreset_session=") and "Max-Age=0" not in value:
                self.cookie = value.split(";", 1)[0]
        return resp.status, data

    def open_link(self, token):
        status, _ = self.request("GET", f"/reset-password?token={token}", site="none")
        if status != 303:
            raise SystemExit(f"bench: opening a link gave HTTP {status}")
        status, page = self.request("GET", "/reset-password")
        m = CSRF.search(page)
        if status != 200 or not m:
            raise SystemExit(f"bench: the form gave HTTP {status} without a csrf field")
        return m.group(1).decode()

    def change(self, token):
        csrf = self.open_link(token)
        body = f"password={PASSWORD}&confirm={PASSWORD}&csrf={csrf}"
        status, _ = self.request("POST", "/reset-password", body=body)
        if status != 303:
            raise SystemExit(f"bench: the POST gave HTTP {status}")
        self.cookie = None


def changes(port, queue, workers, stop=None):
    """Password changes by `workers` clients taking tokens from `queue`; returns (count, s)."""
    lock = threading.Lock()
    done = [0]
    errors = []

    def work():
        client = Client(port)
        while stop is None or not stop.is_set():
            with lock:
                if not queue:
                    return
                token = queue.pop()
            try:
                client.change(token)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    elapsed = time.monotonic() - t0
    if errors:
        raise SystemExit(f"bench: a client failed: {errors[0]}")
    return done[0], elapsed


def argon2_seconds(argon2_once):
    """Mean seconds of one argon2id hash on one core (examples/argon2_once)."""
    out = subprocess.run([argon2_once, "30"], check=True, capture_output=True, text=True, timeout=120)
    return float(out.stdout)


def get_latencies(port, token, n):
    client = Client(port)
    client.open_link(token)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = client.request("GET", "/reset-password")
        out.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"bench: GET of the form gave HTTP {status}")
    return out


def main():
    pw, argon2_once, work = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1500
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    cores = os.cpu_count() or 1
    port = free_port()
    log(f"page: {n} users with a link each")
    setup(pw, work, n, port)
    queue = tokens(work)
    if len(queue) != n:
        raise SystemExit(f"bench: {len(queue)} links in the outbox, expected {n}")
    server = Server(pw, work)
    try:
        latency_probe = queue.pop()
        get_latencies(port, latency_probe, 50)  # warm-up
        idle = get_latencies(port, latency_probe, 200)
        warm = [queue.pop() for _ in range(CLIENTS_PER_CORE * cores)]
        changes(port, warm, CLIENTS_PER_CORE * cores)
        ratios = []
        for r in range(repeat):
            hash_s = argon2_seconds(argon2_once)
            batch = [queue.pop() for _ in range(80 * cores)]
            cpu0, client0 = server.cpu(), os.times()
            count, elapsed = changes(port, batch, CLIENTS_PER_CORE * cores)
            cpu1, client1 = server.cpu(), os.times()
            server_cpu = cpu1 - cpu0
            client_cpu = (client1.user - client0.user) + (client1.system - client0.system)
            rate, ideal = count / elapsed, cores / hash_s
            ratios.append(rate / ideal)
            log(f"figure 5 run {r + 1}: {count} changes in {elapsed:.2f}s = {rate:.1f}/s; one argon2id hash {hash_s * 1000:.1f} ms, ideal {ideal:.1f}/s; ratio {rate / ideal:.3f}")
            log(f"figure 5 run {r + 1}: server CPU {server_cpu:.2f}s ({server_cpu / count * 1000:.1f} ms a change), load client CPU {client_cpu:.2f}s, of {elapsed * cores:.2f}s available")
        # Figure 6: GETs while 4 x cores clients keep POSTing.
        stop = threading.Event()
        loader = threading.Thread(target=changes, args=(port, queue, CLIENTS_PER_CORE * cores, stop))
        loader.start()
        time.sleep(0.5)
        before = len(queue)
        t0 = time.monotonic()
        busy = get_latencies(port, latency_probe, 200)
        busy_rate = (before - len(queue)) / (time.monotonic() - t0)
        stop.set()
        loader.join(timeout=600)
    finally:
        server.stop()
    ratio5 = statistics.median(ratios)
    med_idle, med_busy = statistics.median(idle), statistics.median(busy)
    ratio6 = med_busy / med_idle
    log(f"figure 6: POSTs went on at {busy_rate:.1f} changes/s while the GETs were timed")
    log(f"figure 6: GET median idle {med_idle * 1000:.2f} ms, under POST load {med_busy * 1000:.2f} ms; p90 {sorted(idle)[179] * 1000:.2f} / {sorted(busy)[179] * 1000:.2f} ms")
    ok5 = "ok" if ratio5 >= 0.8 else "MISSED"
    ok6 = "ok" if ratio6 <= 3 else "MISSED"
    print(f"  5. page password changes/s / ideal (cores / argon2 hash):  {ratio5:.3f}   (target >= 0.8: {ok5})")
    print(f"  6. GET median latency, POST load / idle:                  {ratio6:.3f}   (target <= 3: {ok6})")


if __name__ == "__main__":
    main()
