#!/usr/bin/env python3
"""Baseline SMTP client for bench/run.sh: a plain smtplib loop over one connection.

Usage: smtp_client.py PORT COUNT MESSAGE_FILE

Sends COUNT copies of the message in MESSAGE_FILE (in the benchmark: one of pwreset's own
messages, as the sink received it) to 127.0.0.1:PORT over a single connection, one recipient
each, and prints the elapsed seconds (connect to QUIT) on stdout.
"""

import smtplib
import sys
import time


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: smtp_client.py PORT COUNT MESSAGE_FILE")
    port, count = int(sys.argv[1]), int(sys.argv[2])
    with open(sys.argv[3], "rb") as f:
        message = f.read()
    if not message:
        sys.exit("smtp_client.py: empty message file")
    recipients = [f"user{i}@example.com" for i in range(count)]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("bench.localhost")
        for to in recipients:
            client.sendmail("no-reply@localhost", [to], message)
    print(f"{time.perf_counter() - started:.6f}")


if __name__ == "__main__":
    main()
