"""Headless Chromium driven over the DevTools protocol, with the Python standard library only:
starts `chromium-headless-shell` (Debian's package; `chromium --headless` also works) on a
private profile, and speaks the protocol over a minimal WebSocket client."""
import atexit
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import urllib.request

from cocoonlib import fail, limit, tmpdir, wait_until

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")


def find_browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    fail("no headless Chromium found (%s): run scripts/install-deps.sh" % ", ".join(BROWSERS))


class WebSocket:
    """Client side of RFC 6455, enough for DevTools: text frames, masking, fragments, ping."""

    def __init__(self, url, timeout):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                fail("DevTools closed the WebSocket handshake")
            head += chunk
        head, _, self.rest = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            fail("DevTools refused the WebSocket: %r" % head[:200])

    def _read(self, n):
        while len(self.rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("DevTools closed the WebSocket")
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)  # servers never mask
            op = b0 & 0x0F
            if op == 0x8:
                fail("DevTools closed the WebSocket")
            if op == 0x9:  # ping: answer, keep reading
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0\0\0\0" + payload)
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self):
        self.sock.close()


class Browser:
    """One headless browser with one page; `call` sends a DevTools command and returns its result."""

    def __init__(self, width=390, height=844):
        self.profile = tmpdir("cocoon-chromium-")
        self.proc = subprocess.Popen(
            [find_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--no-default-browser-check",
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Debian's launcher is a shell script that runs the browser as its child, and the
            # browser has helpers of its own: all of them share this process group, which
            # close() (or the exit hook, if the test dies first) signals as a whole.
            start_new_session=True)
        atexit.register(self._kill_group)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        wait_until(lambda: self._alive() and os.path.exists(port_file)
                   and open(port_file).read().count("\n") >= 1, limit(30), "Chromium's DevTools port")
        port = int(open(port_file).read().split("\n")[0])
        pages = []

        def page_listed():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                pages[:] = [t for t in json.load(r) if t.get("type") == "page"]
            return bool(pages)
        wait_until(page_listed, limit(30), "a page target")
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"], timeout=limit(60))
        self.next_id = 0
        self.events = []

    def _alive(self):
        if self.proc.poll() is not None:
            fail("Chromium exited with status %s" % self.proc.returncode)
        return True

    def _call(self, method, params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                return msg
            self.events.append(msg)

    def call(self, method, **params):
        msg = self._call(method, params)
        if "error" in msg:
            fail("DevTools %s: %s" % (method, msg["error"]))
        return msg.get("result", {})

    def try_eval(self, expression):
        """Like eval, but None when the page cannot answer yet (e.g. mid-navigation)."""
        msg = self._call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                              "awaitPromise": True})
        r = msg.get("result")
        if "error" in msg or not r or "exceptionDetails" in r:
            return None
        return r["result"].get("value")

    def eval(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail("page script failed: %s" % json.dumps(r["exceptionDetails"])[:500])
        return r["result"].get("value")

    def screenshot(self, path):
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        with open(path, "wb") as f:
            f.write(png)
        return png

    def _kill_group(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def close(self):
        try:
            self.ws.close()
        finally:
            self._kill_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=limit(10))
            except subprocess.TimeoutExpired:
                pass
            self._kill_group()  # helpers that outlive the browser's own exit
            self.proc.wait()
