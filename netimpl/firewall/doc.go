// Package firewall writes Docker 20.10's firewall policy for bridge networks:
// the DOCKER, DOCKER-USER and DOCKER-ISOLATION-STAGE-1/2 chains, the FORWARD
// rules of each bridge, masquerading, published ports (DNAT) and the ACCEPT
// pairs of legacy --link on networks without inter-container communication.
//
// Two backends express the same policy:
//
//   - "iptables" writes the rules dockerd 20.10 writes, in its order, with
//     the iptables tools, so that `iptables-save` in a virtual host reads
//     like the one on a real Docker host
//     (fixtures/docker-20.10/iptables-save.txt). Where there is an
//     iptables-restore of iptables' flavour, a call's rules go in one batch
//     (iptables_batch.go), checked against one iptables-save or against
//     what the last batch left, and with Options.HoldSetup Setup's batch
//     waits to go with the first network's; otherwise each rule is an exec
//     of iptables through github.com/coreos/go-iptables. With iptables-nft,
//     the first batch in a namespace whose nf_tables never saw a commit
//     goes through netlink instead, as the expressions iptables-nft writes
//     (iptables_native.go).
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
