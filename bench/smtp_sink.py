#!/usr/bin/env python3
"""Loopback SMTP sink for bench/run.sh: accepts every message and discards it.

Usage: smtp_sink.py PORT_FILE STATS_FILE

Listens on 127.0.0.1, on a port chosen by the kernel, and writes that port to PORT_FILE once
it is listening. Counts messages and their bytes, and keeps the last message. On SIGUSR1 it
writes the last message to STATS_FILE.last, then "<seq> <messages> <bytes>" to STATS_FILE (each
atomically, via a rename), where <seq> counts the SIGUSR1s received, so the caller can wait for
its own answer. SIGTERM/SIGINT stop it.
"""

import asyncio
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    """aiosmtpd handler: count, discard, answer 250."""

    def __init__(self):
        self.messages = 0
        self.bytes = 0
        self.last = b""

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        self.last = envelope.original_content or envelope.content or b""
        self.bytes += len(self.last)
        return "250 OK"


async def main(port_file, stats_file):
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        # No size limit; no 8-bit decoding (we only count).
        lambda: SMTP(sink, data_size_limit=None, decode_data=False, hostname="sink.localhost"),
        host="127.0.0.1",
        port=0,
    )
    port = server.sockets[0].getsockname()[1]
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, port_file)

    seq = 0

    def report():
        nonlocal seq
        seq += 1
        with open(stats_file + ".last.tmp", "wb") as f:
            f.write(sink.last)
        os.replace(stats_file + ".last.tmp", stats_file + ".last")
        tmp = stats_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{seq} {sink.messages} {sink.bytes}\n")
        os.replace(tmp, stats_file)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, report)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: smtp_sink.py PORT_FILE STATS_FILE")
    asyncio.run(main(sys.argv[1], sys.argv[2]))
