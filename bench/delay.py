#!/usr/bin/env python3
"""A userspace TCP proxy that adds D ms each way: a long link on loopback.

    bench/delay.py --delay-ms 25 --hosts HOSTS.tsv [--port-offset 1000] [--log FILE]

HOSTS.tsv has `name address port` lines (bench/run.sh writes it). For every
host the proxy listens on the host's own address, port + offset, and forwards
to the host's sshd: every chunk read from one side is written to the other D
ms later, in order, so a request and its answer cost 2 D more than on plain
loopback (RTT = 2 D). Loopback only: every address must be in 127.0.0.0/8.
Prints `ready` on stdout once every listener is bound; stops on SIGTERM.

Per connection, one line goes to the log when it closes: the listen address,
bytes each way, and `turns`: how many times the server's bytes followed the
client's (the answers the client waited for, an upper bound on its round
trips: window adjusts during an upload count too).
"""

import argparse
import asyncio
import ipaddress
import signal
import socket
import sys
import time

CHUNK = 64 * 1024


def loopback(address):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


class Link:
    """One proxied connection: counts what went which way."""

    def __init__(self, name):
        self.name = name
        self.up = 0  # bytes client -> server
        self.down = 0  # bytes server -> client
        self.turns = 0
        self.last = None  # "up" or "down": the side that spoke last
        self.started = time.monotonic()

    def saw(self, way, n):
        if way == "down" and self.last == "up":
            self.turns += 1
        self.last = way
        if way == "up":
            self.up += n
        else:
            self.down += n


async def pump(reader, writer, delay, link, way):
    """Copy reader to writer, each chunk written `delay` seconds after it was read."""
    queue = asyncio.Queue()

    async def read():
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = b""
            if data:
                link.saw(way, len(data))
            await queue.put((time.monotonic() + delay, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except (ConnectionError, OSError):
                    pass
                return
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                return

    await asyncio.gather(read(), write())


async def serve(listen, target, delay, log):
    async def handle(c_reader, c_writer):
        link = Link(f"{listen[0]}:{listen[1]}")
        try:
            s_reader, s_writer = await asyncio.open_connection(*target)
        except OSError:
            c_writer.close()
            return
        for w in (c_writer, s_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            pump(c_reader, s_writer, delay, link, "up"),
            pump(s_reader, c_writer, delay, link, "down"),
        )
        for w in (c_writer, s_writer):
            w.close()
        if log:
            log.write(
                f"{link.name} up={link.up} down={link.down} turns={link.turns} "
                f"secs={time.monotonic() - link.started:.3f}\n"
            )
            log.flush()

    return await asyncio.start_server(handle, listen[0], listen[1], backlog=1024)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--port-offset", type=int, default=1000)
    ap.add_argument("--log")
    args = ap.parse_args()
    log = open(args.log, "a") if args.log else None
    servers = []
    with open(args.hosts) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            _, address, port = parts[:3]
            if not loopback(address):
                sys.exit(f"delay.py: {address} is not a loopback address; refusing")
            port = int(port)
            servers.append(
                await serve((address, port + args.port_offset), (address, port), args.delay_ms / 1000, log)
            )
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
