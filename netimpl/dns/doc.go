// Package dns is Docker's embedded resolver: the server at 127.0.0.11:53
// (UDP and TCP) inside every container attached to a user-defined network.
// It answers the names the container can see (container names, network
// aliases, short ids) from a Table and forwards everything else to the
// upstream resolvers its caller names, and to nothing else.
//
// Behaviour taken from moby/libnetwork as vendored in Docker 20.10
// (resolver.go, network.go, sandbox.go):
//   - A for a known name: its IPv4 addresses, all of them, shuffled, TTL 600
//     (respTTL). AAAA for a known name without IPv6: NOERROR and no answer
//     (the "ipv6Miss" case), never forwarded. MX for a known name: NOERROR
//     and no answer ("implicit MX", handleMXQuery). PTR for a known address:
//     the one name the Table gives first (ResolveIP answers
//     "<container>.<network>" and only one name).
//   - Answers carry RA and copy RD and CD from the query (createRespMsg:
//     SetReply + RecursionAvailable); AA is not set, as Docker never sets it.
//   - Answers larger than the client can take (512 bytes, or its EDNS size;
//     64 KiB over TCP) lose answer records from the end until they fit, with
//     TC set over UDP (truncateResp).
//   - Everything else goes to at most three upstreams in order (maxExtDNS)
//     over the protocol the query came in on, 4 s per upstream
//     (extIOTimeout), at most 1024 at once (maxConcurrent). SERVFAIL,
//     REFUSED, other errors and non-authoritative NXDOMAIN try the next
//     upstream; a truncated answer is passed back so that the client asks
//     again over TCP. The sockets to the upstreams are opened inside the
//     container's namespace, as Docker's ExecFunc does.
//   - "options ndots:N" set by the user (Options.NdotsSet): a single-label
//     A/AAAA name that is not known gets NOERROR and no answer instead of
//     being forwarded, so the client goes on with its search domains.
//
// Where this package departs from Docker 20.10, on purpose:
//   - No upstream, or no upstream answered: Docker 20.10 sends nothing back
//     (ServeDNS returns with resp == nil) and the client waits for its own
//     timeout. This resolver answers SERVFAIL at once, the answer
//     resolver.go itself gives when it may not forward (!proxyDNS), so that
//     lab probes fail fast and clearly. Queries that Docker drops for being
//     malformed PTR names are forwarded instead.
//   - Answers are sent with name compression (Docker compresses only
//     forwarded answers), so a large alias set is truncated a little later.
//
// Speed: the common query (one A or AAAA question, class IN, plain
// letters-digits-hyphen labels, optional EDNS) is answered straight from the
// wire without unpacking into a dns.Msg; everything else takes the general
// path built on github.com/miekg/dns.
package dns
