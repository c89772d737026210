package netimpl

import (
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// What every driver whose Join adds an interface shares: the bookkeeping
// (its networks by network ID, and in each the name of every joined
// endpoint's link by endpoint ID, under the driver's lock), and the steps
// of a Join and a Leave around the driver's own part (JoinFunc, LeaveFunc).

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

// LeaveFunc is a driver's own part of a Leave: it deletes ep's link in sb,
// called name in the driver's record nw. A link gone already is not an
// error.
type LeaveFunc[N any] func(nw N, ep *Endpoint, sb *Sandbox, name string) error

// Leave is a driver's Leave, under the driver's lock mu: it finds the
// driver's record of n and the name of ep's link in it, has leave delete
// the link and forgets it. What the driver does not hold has left already.
func Leave[N any](mu sync.Locker, networks map[string]N, n *Network, ep *Endpoint, sb *Sandbox, links func(N) map[string]string, leave LeaveFunc[N]) error {
	mu.Lock()
	defer mu.Unlock()
	nw, ok := networks[n.ID]
	if !ok {
		return nil
	}
	name, ok := links(nw)[ep.ID]
	if !ok {
		return nil
	}
	if err := leave(nw, ep, sb, name); err != nil {
		return err
	}
	delete(links(nw), ep.ID)
	return nil
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
