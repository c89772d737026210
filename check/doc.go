// Package check holds a running lab to a file of expectations, as a teacher
// holds a student's lab to an exercise: reachability between named hosts and
// containers (ICMP, TCP, HTTP, DNS, or that a path stays closed), the
// networks each daemon must report, routes, forwarding, firewall rules in
// the words a student would check them, etcd keys, interfaces, the
// bridges' forwarding tables, shared namespaces and containers' /etc/hosts.
//
// Every check looks at the lab from where a student would: probes run from
// inside the namespaces of hosts and containers (netns/probe), kernel state
// is read through netlink in them, networks come from each docker host's
// daemon through its Docker API, rules from iptables and nft run inside the
// host. Each check has a deadline and retries until it passes; a check that
// a path must stay closed passes only when its whole deadline went by in
// silence. The checks of a file run in parallel.
//
// A file is parsed and validated completely before anything runs; every
// problem is reported as FILE:LINE: field: message.
package check
