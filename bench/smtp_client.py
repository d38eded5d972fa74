#!/usr/bin/env python3
"""Baseline SMTP client for bench/run.sh: a plain smtplib loop over one connection.

Usage: smtp_client.py PORT COUNT SIZE

Sends COUNT messages of about SIZE bytes (headers and body) to 127.0.0.1:PORT over a single
connection, one recipient each, and prints the elapsed seconds (connect to QUIT) on stdout.
"""

import smtplib
import sys
import time


def message(i, size):
    headers = (
        "From: pwreset <no-reply@localhost>\r\n"
        f"To: user{i}@example.com\r\n"
        "Subject: Reset your password for Example App\r\n"
        f"Message-ID: <bench-{i}@localhost>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
    )
    line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
    body_len = max(0, size - len(headers))
    body = (line * (body_len // len(line) + 1))[:body_len]
    return (headers + body).encode("ascii")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: smtp_client.py PORT COUNT SIZE")
    port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    # Build the messages first, so that only SMTP is timed.
    messages = [(f"user{i}@example.com", message(i, size)) for i in range(count)]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("bench.localhost")
        for to, data in messages:
            client.sendmail("no-reply@localhost", [to], data)
    print(f"{time.perf_counter() - started:.6f}")


if __name__ == "__main__":
    main()
