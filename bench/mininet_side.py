"""The Mininet side of nslab's BenchmarkMininet and BenchmarkPingAll.

mininet_side.py N up|pingall: N hosts on one Linux bridge (Mininet's lxbr
switch), no controller, addresses 10.0.0.1/8 upward, brought up and down
in the network namespace this script was started in; with pingall,
Mininet's pingAll between them, after static ARP entries for all pairs
(Mininet's --arp): the kernel's neighbour table is one for the whole
machine, 1024 entries by default, and all pairs of 50 hosts need 2,450 —
Mininet raises that limit for the whole machine (its fixLimits, skipped
here), static entries do not count against it. Prints the times in
seconds as one JSON line. The benchmark starts it under `unshare --net --pid --mount-proc`:
Mininet keeps its switch and the switch's end of each host's veth in the
namespace it runs in, which must not be the machine's.
"""
import json
import sys
import time

import mininet.net
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import SingleSwitchTopo

# Mininet.init raises limits of the whole machine (fs.file-max,
# net.core.rmem_max, kernel.pty.max, ...): sysctls no namespace confines.
Mininet.init = classmethod(lambda cls: None)
# Mininet.stop quits every `screen` session named mininet.* on the machine.
mininet.net.cleanUpScreens = lambda: None


def main():
    n, mode = int(sys.argv[1]), sys.argv[2]
    setLogLevel("error")
    out = {}
    t0 = time.monotonic()
    net = Mininet(topo=SingleSwitchTopo(n), switch=LinuxBridge, controller=None,
                  build=False, ipBase="10.0.0.0/8")
    net.build()
    net.start()
    out["up"] = time.monotonic() - t0
    if mode == "pingall":
        t1 = time.monotonic()
        net.staticArp()
        out["arp"] = time.monotonic() - t1
        t1 = time.monotonic()
        out["loss"] = net.pingAll()
        out["pingall"] = time.monotonic() - t1
    t2 = time.monotonic()
    net.stop()
    out["down"] = time.monotonic() - t2
    print(json.dumps(out))


main()
