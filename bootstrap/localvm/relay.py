"""One guest connection, relayed to a host port: QEMU's guestfwd starts this per connection with the
connection on standard input and output (a `tcp:` target would be one connection for the machine's
whole life). Used for the metadata server stand-in (metadata.py).

    python -I .../bootstrap/localvm/relay.py PORT

Started by its path in an isolated Python (machine.relay_command): it imports the standard library
only, so nothing on the import path, a checkout's folders included, can stand in for it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading


def relay(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as upstream:
        upstream.settimeout(None)

        def to_host() -> None:
            while data := os.read(0, 65536):
                upstream.sendall(data)
            upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=to_host, daemon=True).start()
        while data := upstream.recv(65536):
            os.write(1, data)


if __name__ == "__main__":
    relay(int(sys.argv[1]))
