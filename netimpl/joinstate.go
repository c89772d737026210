package netimpl

import "fmt"

// The bookkeeping every driver whose Join adds an interface keeps: its
// networks by network ID, and in each the name of every joined endpoint's
// link by endpoint ID (the driver's lock held around both).

// JoinTarget returns the driver's record of n for ep to join it: ep must
// carry its address, the driver must hold n (its name in the message is
// the driver's), and ep must not have joined n already. links returns the
// record's links by endpoint ID.
func JoinTarget[N any](networks map[string]N, n *Network, ep *Endpoint, driver string, links func(N) map[string]string) (N, error) {
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
