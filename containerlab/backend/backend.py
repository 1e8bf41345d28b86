#!/usr/bin/env python3
"""Lab backend: a tiny HTTP server that says who it is.

Listens on 0.0.0.0 and :: at --port. The answer to any GET is the node name
plus "-a" when reached on an address ending in .11/::11 and "-b" for .12/::12
(so the client can see which backend IPVS picked). GET /healthz answers 200
"ok" until --fail-file exists, then 503, which is how a lab test makes a
backend fail its health check (touch the file) and recover (remove it).
"""
import argparse
import ipaddress
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def identity(name, local_ip):
    try:
        addr = ipaddress.ip_address(local_ip.split("%")[0])
    except ValueError:
        return name
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    # The lab numbers backends .11/.12 (IPv4, decimal) and ::11/::12 (IPv6, hex).
    last = int(addr) & 0xFF if addr.version == 4 else int(addr) & 0xFFFF
    suffix = {11: "-a", 12: "-b"} if addr.version == 4 else {0x11: "-a", 0x12: "-b"}
    return name + suffix.get(last, "")


class Handler(BaseHTTPRequestHandler):
    server_version = "lab-backend/1"

    def do_GET(self):
        if self.path.split("?")[0] == "/healthz":
            failing = os.path.exists(self.server.fail_file)
            code, body = (503, "failing\n") if failing else (200, "ok\n")
        else:
            code, body = 200, identity(self.server.name, self.connection.getsockname()[0]) + "\n"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


class V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


class V4Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--fail-file", default="/tmp/fail")
    a = p.parse_args()
    servers = []
    for cls, host in ((V4Server, "0.0.0.0"), (V6Server, "::")):
        try:
            s = cls((host, a.port), Handler)
        except OSError as e:
            print(f"lab-backend: cannot listen on [{host}]:{a.port}: {e}", file=sys.stderr)
            continue
        s.name, s.fail_file = a.name, a.fail_file
        servers.append(s)
    if not servers:
        sys.exit(1)
    print(f"lab-backend {a.name} listening on port {a.port}", flush=True)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
