#!/usr/bin/env python3
"""Holds N idle keep-alive connections to URL (http or https), each after
one GET / so the server has parsed a request on it. Prints "ready N" when
all are open, then waits for SIGTERM (or stdin closing) and exits.
usage: idle_conns.py URL N"""
import resource, signal, socket, ssl, sys, urllib.parse

url, n = sys.argv[1], int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
u = urllib.parse.urlparse(url)
ctx = None
if u.scheme == "https":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
req = b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % u.netloc.encode()
conns = []
for i in range(n):
    s = socket.create_connection((u.hostname, u.port))
    if ctx:
        s = ctx.wrap_socket(s, server_hostname=u.hostname)
    s.sendall(req)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection %d closed by the server" % i)
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += s.recv(4096)
    conns.append(s)
print("ready %d" % len(conns), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.stdin.read()
