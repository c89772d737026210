package netimpl

import (
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The bookkeeping every driver whose Join adds an interface keeps: its
// networks by network ID, and in each the name of every joined endpoint's
// link by endpoint ID (the driver's lock held around both).

// JoinFunc is a driver's own part of a Join: it makes ep's interface in sb
// for the driver's record nw, given the engine's netlink handle in sb and a
// descriptor of sb's namespace, and returns the name of the link by which
// Leave finds it again. On error it leaves nothing behind.
type JoinFunc[N any] func(nw N, ep *Endpoint, sb *Sandbox, sbh *netlink.Handle, nsfd int) (string, error)

// Join is a driver's Join, under the driver's lock mu (which guards
// networks): it finds the driver's record of n for ep (joinTarget), opens
// the sandbox, has join make ep's interface there and records the link
// join names in the record's links.
func Join[N any](mu sync.Locker, networks map[string]N, n *Network, ep *Endpoint, sb *Sandbox, driver string, links func(N) map[string]string, join JoinFunc[N]) error {
	mu.Lock()
	defer mu.Unlock()
	nw, err := joinTarget(networks, n, ep, driver, links)
	if err != nil {
		return err
	}
	sbh, nsfd, err := OpenSandbox(sb)
	if err != nil {
		return err
	}
	defer unix.Close(nsfd)
	name, err := join(nw, ep, sb, sbh, nsfd)
	if err != nil {
		return err
	}
	links(nw)[ep.ID] = name
	return nil
}

// joinTarget returns the driver's record of n for ep to join it: ep must
// carry its address, the driver must hold n (its name in the message is
// the driver's), and ep must not have joined n already. links returns the
// record's links by endpoint ID.
func joinTarget[N any](networks map[string]N, n *Network, ep *Endpoint, driver string, links func(N) map[string]string) (N, error) {
	var none N
	if err := ep.CheckAddressed(); err != nil {
		return none, err
	}
	nw, ok := networks[n.ID]
	if !ok {
		return none, fmt.Errorf("%s network %s: unknown to the driver", driver, n.Name)
	}
	if _, dup := links(nw)[ep.ID]; dup {
		return none, fmt.Errorf("endpoint %s: joined already", ep.ID)
	}
	return nw, nil
}

// Joined returns the driver's record of n and the name of ep's link in
// it, for ep to leave n; false when the driver holds neither, which
// Leave takes as gone already.
func Joined[N any](networks map[string]N, n *Network, ep *Endpoint, links func(N) map[string]string) (N, string, bool) {
	nw, ok := networks[n.ID]
	if !ok {
		return nw, "", false
	}
	name, ok := links(nw)[ep.ID]
	return nw, name, ok
}

// DeleteRecord takes n's devices away with remove and forgets the
// driver's record of n only once remove succeeded. After a failed delete
// the driver still holds the network, as libnetwork's bridge driver puts
// it back, and so does the engine: `docker network rm` tried again tries
// what is left again. A network the driver does not hold is gone already.
func DeleteRecord[N any](networks map[string]N, n *Network, remove func(N) error) error {
	nw, ok := networks[n.ID]
	if !ok {
		return nil
	}
	if err := remove(nw); err != nil {
		return err
	}
	delete(networks, n.ID)
	return nil
}
