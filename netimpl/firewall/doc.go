// Package firewall writes Docker 20.10's firewall policy for bridge networks:
// the DOCKER, DOCKER-USER and DOCKER-ISOLATION-STAGE-1/2 chains, the FORWARD
// rules of each bridge, masquerading, published ports (DNAT) and the ACCEPT
// pairs of legacy --link on networks without inter-container communication.
//
// Two backends express the same policy:
//
//   - "iptables" execs the iptables tool through github.com/coreos/go-iptables,
//     rule for rule and in the order dockerd 20.10 writes them, so that
//     `iptables-save` in a virtual host reads like the one on a real Docker
//     host (fixtures/docker-20.10/iptables-save.txt). Only deletions of
//     several rules go through one iptables-restore, which is faster (see
//     removeAll) and leaves the same rules.
//   - "nftables" speaks netlink directly (github.com/google/nftables, no nft
//     tool at run time) and keeps the policy in two tables of its own,
//     `ip docker-filter` and `ip docker-nat`, with Docker's chain names and
//     rule order. Every operation is one netlink transaction, so it is atomic
//     and fast; every rule carries a comment naming what it belongs to
//     ("network br-…", "port tcp 0.0.0.0:8080 -> 172.18.0.2:80 on br-…"),
//     which is also how rules are found again for removal.
//
// A backend is bound, when New runs, to the network namespace of the calling
// thread: hostd calls New inside its virtual host's namespace, tests call it
// inside netns.Do. Later calls may come from any goroutine and still act on
// that namespace, never on the caller's. Backends are safe for concurrent use.
// Teardown removes every rule and chain the backend made; Close only lets go
// of the namespace and leaves the rules, as dockerd does when it exits.
//
// Modelled: Docker 20.10 with IPv4 and iptables enabled, the userland proxy
// on (the default) or off (Options.Hairpin, dockerd --userland-proxy=false:
// hairpin NAT and route_localnet on each bridge). The FORWARD policy is DROP
// after Setup, as dockerd leaves it when it turns ip_forward on itself;
// SetForwardPolicy expresses a daemon that found forwarding already on.
// Turning on ip_forward is the bridge driver's job, not this package's.
package firewall
