// Package bench measures three ways of joining containers on two hosts
// (macvlan on a shared segment, static routes between the docker bridges,
// a GRE tunnel between them) against the kernel's
// veth-and-bridge path of two containers on one host: TCP throughput and
// idle round-trip time, each with its ratio to that baseline. It holds only
// Go benchmarks, built from the drivers hostd uses (bridge, macvlan, the
// userspace gretap) in namespaces of their own:
//
//	go test -run '^$' -bench . -benchtime 1x ./netimpl/bench/
//
// The hosts carry no firewall rules: what is measured is the data path.
package bench
