"""Drives a headless chromium through its DevTools protocol (a WebSocket): the test's steps,
one JSON list on argv[2], against the browser whose debugging port is argv[1]. Prints one JSON
result per step. Standard library only: the WebSocket framing is the few lines a client needs.

Steps: {"goto": URL}, {"size": [W, H]}, {"wait": JS_EXPR, "timeout": S} (until truthy),
{"eval": JS_EXPR}, {"click": CSS_SELECTOR}, {"shot": PATH}.
"""
import base64, json, os, socket, struct, sys, time, urllib.request

port, steps = int(sys.argv[1]), json.loads(sys.argv[2])
deadline = time.time() + 20
while True:
    try:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        break
    except Exception:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
path = page["webSocketDebuggerUrl"].split(str(port), 1)[1]
sock = socket.create_connection(("127.0.0.1", port))
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(1)
assert b" 101 " in head.split(b"\r\n")[0], head


def send(obj):
    data = json.dumps(obj).encode()
    mask = os.urandom(4)
    n = len(data)
    hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
                           if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n))
    sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("the browser closed the connection")
        buf += chunk
    return buf


def recv():
    msg = b""
    while True:
        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", exact(8))[0]
        msg += exact(n)
        if b0 & 0x80:
            return json.loads(msg)


counter = 0


def call(method, **params):
    global counter
    counter += 1
    send({"id": counter, "method": method, "params": params})
    while True:
        m = recv()
        if m.get("id") == counter:
            if "error" in m:
                raise RuntimeError(f"{method}: {m['error']}")
            return m.get("result", {})


def evaluate(expr):
    r = call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in r:
        raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
    return r["result"].get("value")


call("Page.enable")
TIMES = bool(os.environ.get("PANEHERD_CDP_TIMES"))
for step in steps:
    began = time.time()
    if "goto" in step:
        call("Page.navigate", url=step["goto"])
        out = True
    elif "size" in step:
        w, h = step["size"]
        call("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1,
             mobile=w < 600)
        out = True
    elif "wait" in step:
        end = time.time() + step.get("timeout", 10)
        while True:
            try:
                # Truthy as the page judges it (an element, which would come back as {}, is
                # there: true); the value itself otherwise.
                ok, out = evaluate(f"(v => [!!v, v instanceof Node || v])({step['wait']})")
                out = out if ok else None
            except RuntimeError:
                out = None
            if out or time.time() > end:
                break
            time.sleep(0.05)
    elif "eval" in step:
        out = evaluate(step["eval"])
    elif "click" in step:
        out = evaluate(f"(() => {{ const e = document.querySelector({json.dumps(step['click'])});"
                       " if (!e) return false; e.click(); return true; })()")
    elif "shot" in step:
        data = call("Page.captureScreenshot", format="png")["data"]
        with open(step["shot"], "wb") as f:
            f.write(base64.b64decode(data))
        out = step["shot"]
    if TIMES:
        print(f"{time.time() - began:7.3f} s  {json.dumps(step)[:90]}", file=sys.stderr, flush=True)
    print(json.dumps(out), flush=True)
