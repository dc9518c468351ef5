#!/usr/bin/env python3
"""Runs a command, passes its stdout through, and appends its peak RSS (KiB) to the file named by
MAXRSS_OUT: the comparison benchmark's memory figure for each tool."""
import os
import resource
import subprocess
import sys

rc = subprocess.call(sys.argv[1:])
with open(os.environ["MAXRSS_OUT"], "a") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
