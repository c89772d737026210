// Package netimpl is the network engine of hostd, cut as moby/libnetwork's
// Container Network Model: a Network belongs to a Driver, an Endpoint joins
// one Network to one Sandbox, and a Sandbox is a container's network
// namespace, pinned under /run/netns so that `ip netns exec` reaches it.
//
// The Engine owns all three under one mutex. Every operation validates the
// whole request first, then acts, and undoes its earlier steps when a later
// one fails. Drivers are small packages below this one (null, host; bridge,
// macvlan and overlay later) behind the Driver interface; none of them knows
// about labs, topologies or the Docker API.
package netimpl
