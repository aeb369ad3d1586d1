"""A TCP proxy in its own process, to cut the link between a gateway and the broker.

    proxy = start_tcpproxy(workdir, target_port=broker.port)   # gateway connects to proxy.port
    proxy.cut()       # every proxied connection is reset (RST) and new ones are refused
    proxy.restore()   # listening again on the same port: the gateway reconnects
    proxy.status()    # {"state": "up"|"cut", "open": n, "accepted": n, "cuts": n}

Run as a script (`python tests/support/tcpproxy.py --target-port T [--port P] --control-port C`);
it is driven through a line-based control port on 127.0.0.1 (`cut`, `restore`, `status`, each
answered with one JSON line once done), and forwards only between loopback addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import sys
from pathlib import Path

from citytraffic.processes import ManagedProcess, free_port, port_open

LOOPBACK = "127.0.0.1"


class Proxy:
    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0
        self.cuts = 0

    async def listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self._client, LOOPBACK, self.port, reuse_address=True
            )

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0: the peer gets a reset, as on a dropped link
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.writers.clear()
        self.cuts += 1

    def status(self) -> dict[str, object]:
        return {
            "state": "up" if self.server is not None else "cut",
            "open": len(self.writers) // 2,
            "accepted": self.accepted,
            "cuts": self.cuts,
        }

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        for w in (writer, up_writer):
            with contextlib.suppress(OSError):
                w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.writers.add(w)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        for w in (writer, up_writer):
            self.writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()  # one side gone: drop the other, like a broken link

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            command = line.decode(errors="replace").strip()
            if command == "cut":
                await self.cut()
            elif command == "restore":
                await self.listen()
            elif command != "status":
                writer.write(b'{"error": "unknown command"}\n')
                continue
            writer.write(json.dumps(self.status()).encode() + b"\n")
            await writer.drain()
        writer.close()


async def serve(port: int, target_port: int, control_port: int) -> None:
    proxy = Proxy(port, target_port)
    await proxy.listen()
    control = await asyncio.start_server(proxy.control, LOOPBACK, control_port)
    sys.stdout.write(f"tcpproxy {port} -> {target_port}, control {control_port}\n")
    sys.stdout.flush()
    async with control:
        await control.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.target_port, args.control_port))
    return 0


# ---- the test side ----------------------------------------------------------------------------


class TcpProxy(ManagedProcess):
    port: int
    control_port: int

    def command(self, command: str, timeout_s: float = 10.0) -> dict[str, object]:
        with socket.create_connection((LOOPBACK, self.control_port), timeout_s) as sock:
            sock.sendall(command.encode() + b"\n")
            answer = sock.makefile("rb").readline()
        result: dict[str, object] = json.loads(answer)
        return result

    def cut(self) -> dict[str, object]:
        return self.command("cut")

    def restore(self) -> dict[str, object]:
        return self.command("restore")

    def status(self) -> dict[str, object]:
        return self.command("status")


def start_tcpproxy(workdir: Path, target_port: int, port: int | None = None) -> TcpProxy:
    port = port or free_port()
    control_port = free_port()
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--port",
        str(port),
        "--target-port",
        str(target_port),
        "--control-port",
        str(control_port),
    ]
    proxy = TcpProxy("tcpproxy", argv, workdir, lambda: port_open(control_port))
    proxy.port, proxy.control_port = port, control_port
    proxy.start()
    return proxy


if __name__ == "__main__":
    sys.exit(main())
