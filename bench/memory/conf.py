#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The shipped config for bench/memory/run.sh.

  conf.py SHIPPED DIR PLUGIN_DIR PORT

Prints etc/vibeboxd.conf.in with @PLUGIN_DIR@, @STATE_DIR@ (DIR/state),
the key files (in DIR) and the listener (127.0.0.1:PORT) of this run, and
without docker-runtime's entry (it needs a Docker engine); writes the
names of the plugins it enables to DIR/plugins.list, one a line.
"""

import re
import sys


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    src, d, plugins, port = argv[1:]
    t = open(src).read()
    t = t.replace("@PLUGIN_DIR@", plugins).replace("@STATE_DIR@", d + "/state")
    t = t.replace("/etc/vibebox/", d + "/")
    t = re.sub(r"(?m)^(\s*)listen = .*$",
               r'\1listen = "127.0.0.1:%s";' % port, t)
    # docker-runtime's entry, to the end of its block
    t = re.sub(r'(?ms)^[ \t]*\{ name = "docker-runtime";.*?\}; \},?[ \t]*\n',
               "", t)
    # no comma after the last entry (commented entries may follow it)
    t = re.sub(r"(?m)^([^#\n]*\}; \}),((?:\s*#[^\n]*)*\s*\);)", r"\1\2", t)
    names = re.findall(r'(?m)^[^#\n]*\{ name = "([a-z0-9-]+)";', t)
    with open(d + "/plugins.list", "w") as f:
        f.write("".join(n + "\n" for n in names))
    sys.stdout.write(t)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
