#!/usr/bin/env python3
"""`make deb` (packaging/deb/build.sh) builds installable packages: one per daemon and one for the
CLI, each with its program, man page and (daemons) a sandboxed systemd unit and a conffile. Checks
the control fields, that every dependency is a Debian package present on this machine, that the
packaged programs run, that the man pages render without warnings and that systemd accepts the
units (`systemd-analyze verify`, shown first to reject a broken unit)."""
import os
import shutil
import subprocess

from cocoonlib import check, check_eq, fail, limit, log, run, tmpdir

SRC = os.environ.get("COCOON_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(os.environ.get("COCOON_BIN_DIR", os.path.join("build", "bin")), "..")
PACKAGES = {
    "cocoon-proxy": {"bins": ["cocoon-proxy"], "man": "man8/cocoon-proxy.8.gz", "unit": True},
    "cocoon-worker": {"bins": ["cocoon-worker"], "man": "man8/cocoon-worker.8.gz", "unit": True},
    "cocoon-client": {"bins": ["cocoon-client"], "man": "man8/cocoon-client.8.gz", "unit": True},
    "cocoon": {"bins": ["cocoon", "cocoon-fake-backend"], "man": "man1/cocoon.1.gz", "unit": False},
}


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=limit(120), **kw)


def control(deb):
    r = sh("dpkg-deb", "-f", deb)
    check_eq(r.returncode, 0, "dpkg-deb -f %s: %s" % (deb, r.stderr))
    fields = {}
    for line in r.stdout.splitlines():
        if line and not line[0].isspace() and ":" in line:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def verify_units(units):
    r = sh("systemd-analyze", "verify", "--man=no", *units)
    return (r.stdout + r.stderr).strip()


def main(holder):
    out = tmpdir("cocoon-deb-")
    r = sh(os.path.join(SRC, "packaging", "deb", "build.sh"), BUILD, out)
    check_eq(r.returncode, 0, "build.sh: %s" % r.stderr)
    debs = {os.path.basename(p).split("_")[0]: p for p in r.stdout.split()}
    check_eq(sorted(debs), sorted(PACKAGES), "packages built")

    root = os.path.join(out, "root")
    for name, want in PACKAGES.items():
        deb = debs[name]
        f = control(deb)
        check_eq(f.get("Package"), name, "Package of %s" % deb)
        check(f.get("Version", "").count(".") == 2, "Version %r" % f.get("Version"))
        deps = [d.strip() for d in f.get("Depends", "").split(",") if d.strip()]
        check("libc6" in deps and "libssl3" in deps, "%s depends on %s" % (name, deps))
        for d in deps:
            q = sh("dpkg-query", "-W", "-f=${Status}", d)
            check("ok installed" in q.stdout, "dependency %s of %s is a known, installed package" % (d, name))
        listing = sh("dpkg-deb", "-c", deb).stdout
        for b in want["bins"]:
            check("./usr/bin/%s\n" % b in listing, "%s holds /usr/bin/%s" % (name, b))
        check("./usr/share/man/%s\n" % want["man"] in listing, "%s holds its man page" % name)
        if want["unit"]:
            role = name.split("-", 1)[1]
            check("./lib/systemd/system/%s.service\n" % name in listing, "%s holds its unit" % name)
            check_eq(sh("dpkg-deb", "--ctrl-tarfile", deb).returncode, 0, "control archive")
            conf = sh("dpkg-deb", "-I", deb, "conffiles").stdout
            check("/etc/cocoon/%s.json" % role in conf, "%s conffiles: %r" % (name, conf))
        check_eq(sh("dpkg-deb", "-x", deb, root).returncode, 0, "extract %s" % name)

    for progs in PACKAGES.values():
        for b in progs["bins"]:
            h = sh(os.path.join(root, "usr", "bin", b), "--help")
            check_eq(h.returncode, 0, "packaged %s --help exits 0 (%s)" % (b, h.stderr[-300:]))
            check("usage" in (h.stdout + h.stderr).lower(), "%s --help prints its usage" % b)

    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    for page in PACKAGES.values():
        path = os.path.join(root, "usr", "share", "man", page["man"])
        m = sh("man", "--warnings", "-l", path, env=env)
        check_eq(m.returncode, 0, "man %s" % path)
        check(m.stderr.strip() == "", "man page %s renders without warnings: %s" % (path, m.stderr))
        check("SYNOPSIS" in m.stdout and "SEE ALSO" in m.stdout, "man page %s sections" % path)

    # systemd's own parser on the units, with ExecStart pointed at the extracted programs (verify
    # wants them to exist). A broken unit must be reported, or a silent verifier proves nothing.
    if not shutil.which("systemd-analyze"):
        fail("systemd-analyze is missing (package systemd)")
    units = []
    for name, want in PACKAGES.items():
        if not want["unit"]:
            continue
        text = open(os.path.join(root, "lib", "systemd", "system", name + ".service")).read()
        check("DynamicUser=yes" in text and "ProtectSystem=strict" in text
              and "StateDirectory=%s" % name in text, "%s is sandboxed" % name)
        text = text.replace("/usr/bin/", os.path.join(root, "usr", "bin") + "/")
        u = os.path.join(out, name + ".service")
        open(u, "w").write(text)
        units.append(u)
    broken = os.path.join(out, "broken.service")
    open(broken, "w").write("[Service]\nExecStart=/bin/true\nProtectSystem=sometimes\n")
    check("sometimes" in verify_units([broken]), "systemd-analyze reports a broken unit")
    msgs = verify_units(units)
    check(msgs == "", "systemd-analyze verify on the units: %s" % msgs)
    log("packages: %s" % ", ".join(sorted(os.path.basename(p) for p in debs.values())))


if __name__ == "__main__":
    run(main)
