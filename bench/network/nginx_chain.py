"""The anchor for the relay benchmark: three nginx hops shaped like cocoon's
client -> proxy -> worker chain (plain HTTP in, TLS 1.3 between the hops with
the peer's certificate verified, plain HTTP to the backend, keep-alive
upstream connections, no response buffering), each hop one single-process
nginx so that its CPU time can be read like a cocoon daemon's.

nginx comes from PATH or /usr/sbin; when it is not installed, Debian's
package is fetched with `apt-get download` and unpacked with `dpkg -x` into
the build folder (no service is installed or started). The certificate is
made at run time with the openssl command."""
import os
import shutil
import socket
import subprocess
import time

HOPS = ("client", "proxy", "worker")

CONF = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/{hop}.pid;
error_log {dir}/{hop}.err warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp-{hop}-body;
    proxy_temp_path {dir}/tmp-{hop}-proxy;
    fastcgi_temp_path {dir}/tmp-{hop}-fcgi;
    uwsgi_temp_path {dir}/tmp-{hop}-uwsgi;
    scgi_temp_path {dir}/tmp-{hop}-scgi;
    keepalive_requests 1000000;
    upstream next {{ server 127.0.0.1:{up_port}; keepalive 256; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port}{ssl};
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_protocols TLSv1.3;
        location / {{
            proxy_pass {scheme}://next;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_ssl_protocols TLSv1.3;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {dir}/cert.pem;
            proxy_ssl_name localhost;
            proxy_ssl_session_reuse on;
        }}
    }}
}}
"""


def find_nginx(build):
    """Path of an nginx binary, or None with the reason printed."""
    for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    root = os.path.join(build, "nginx")
    local = os.path.join(root, "usr", "sbin", "nginx")
    if os.access(local, os.X_OK):
        return local
    os.makedirs(root, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", "nginx"], cwd=root, check=True,
                       capture_output=True, timeout=300)
        debs = [f for f in os.listdir(root) if f.startswith("nginx_") and f.endswith(".deb")]
        subprocess.run(["dpkg", "-x", os.path.join(root, debs[0]), root], check=True,
                       capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError, IndexError) as e:
        print("bench: no nginx anchor (nginx not installed, apt-get download failed: %s)" % e)
        return None
    return local if os.access(local, os.X_OK) else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("bench: nginx exited at start (code %d)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench: nginx did not listen on %d" % port)


class Chain:
    """client hop (http in, https out) -> proxy hop (https in and out) ->
    worker hop (https in, http out) -> backend."""

    def __init__(self, nginx, backend_port, workdir):
        self.dir = workdir
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", os.path.join(workdir, "key.pem"),
                        "-out", os.path.join(workdir, "cert.pem")],
                       check=True, capture_output=True)
        ports = {hop: free_port() for hop in HOPS}
        up = {"client": ports["proxy"], "proxy": ports["worker"], "worker": backend_port}
        self.procs = {}
        for hop in reversed(HOPS):
            conf = os.path.join(workdir, hop + ".conf")
            with open(conf, "w") as f:
                f.write(CONF.format(dir=workdir, hop=hop, port=ports[hop], up_port=up[hop],
                                    ssl="" if hop == "client" else " ssl",
                                    scheme="http" if hop == "worker" else "https"))
            p = subprocess.Popen([nginx, "-p", workdir, "-e", os.path.join(workdir, hop + ".err"),
                                  "-c", conf], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            self.procs[hop] = p
            wait_port(ports[hop], p)
        self.url = "http://127.0.0.1:%d" % ports["client"]

    def pids(self):
        return {"nginx_" + hop: p.pid for hop, p in self.procs.items()}

    def stop(self):
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
