// Package portmap publishes container ports on the host (docker run -p and
// -P): it reserves host ports as Docker's port allocator does and runs a
// userland proxy per published port, as docker-proxy does, so that the
// host's own loopback and addresses reach the container.
//
// It writes no firewall rules: the DNAT, the filter accept and the hairpin
// MASQUERADE belong to the firewall package. The intended order in hostd
// is Map (reserve + proxy), then the firewall's port rules, and Unmap when
// those fail, so that a failure leaves nothing behind.
//
// Behaviour taken from moby/libnetwork as vendored in Docker 20.10:
//   - portallocator/portallocator.go: ports are reserved per host address
//     and protocol (0.0.0.0:8080 and 127.0.0.1:8080 are different
//     reservations; the second then fails when its proxy cannot bind); an
//     ephemeral port (-P, or -p with no host port) comes from the kernel's
//     net.ipv4.ip_local_port_range (portallocator_linux.go; 32768-60999 by
//     default, as a real dockerd 20.10.24 gives 32768 first), or
//     49153-65535 when that cannot be read, round-robin from the last one
//     given; a host port range (-p 8000-8010:80) gives its first free port,
//     round-robin too; the error texts "Bind for 0.0.0.0:8080 failed: port
//     is already allocated" and "all ports are allocated".
//   - portmapper/mapper.go and proxy.go: the proxy is started after the
//     reservation and the reservation is released when it fails, with
//     "Error starting userland proxy: <listen error>"; with the proxy off
//     (--userland-proxy=false) the port is still held by a plain listener
//     (dummyProxy), whose error is returned as it is.
//   - drivers/bridge/port_mapping.go: an ephemeral port whose proxy cannot
//     bind is tried again with the next port, up to 10 times
//     (maxAllocatePortAttempts); an explicit port or range is not.
//   - cmd/proxy (docker-proxy): the proxy listens on tcp4/udp4 (tcp6/udp6
//     for an IPv6 host address), so the listen error reads "listen tcp4
//     0.0.0.0:80: bind: address already in use"; TCP relays both ways
//     with half-close (CloseWrite after EOF); UDP keeps one socket to the
//     container per client address, closed after 90 s of silence
//     (UDPConnTrackTimeout; docker-proxy counts only replies, this proxy
//     counts the client's datagrams too, see udpproxy.go), and answers from
//     the address the client sent to (IP_PKTINFO), which matters on a host
//     with several addresses.
//
// The proxy runs in-process rather than as a docker-proxy child: it
// listens in the caller's network namespace (hostd runs in its virtual
// host's namespace) or in Options.NetNS.
package portmap
