package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
	"github.com/nslab/nslab/undo"
)

// Every read goes through raft (quorum): without a quorum there is no
// answer, as there is none for a write.
var quorum = etcdv2.GetOptions{Quorum: true}

// CreateNetwork implements Store, in the steps and order of dockerd's
// libnetwork: the pool (the address space's value, by compare-and-swap),
// the pool's bitmask with its network, broadcast and gateway addresses
// taken, for an overlay network its record (VXLAN id 0: it comes at the
// first join), the endpoint count, and last the network's own key, which
// is what the other hosts' watches see. Each step is undone when a later
// one fails. The name is checked against the networks there are: as on
// Docker, two hosts creating one name at once may both succeed.
func (s *Etcd) CreateNetwork(ctx context.Context, n Network) (Network, error) {
	req, err := checkNetwork(n)
	if err != nil {
		return Network{}, err
	}
	op := "create network " + req.Name
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	nets, err := s.listNetworks(octx)
	if err != nil {
		s.skipPool(req)
		return Network{}, s.fail(ctx, op, err)
	}
	for _, o := range nets {
		if o.Name == req.Name {
			return Network{}, errNameExists(req.Name)
		}
		if o.ID == req.ID {
			return Network{}, fmt.Errorf("%s: network id %s exists already", op, req.ID)
		}
	}
	var u undo.Steps
	n, err = s.takePool(octx, req, &u)
	if err == nil {
		err = s.writeNetwork(octx, n, &u)
	}
	if err != nil {
		u.Run()
		return Network{}, s.opError(ctx, op, err)
	}
	return n.clone(), nil
}

// writeNetwork writes the network's keys after its pool.
func (s *Etcd) writeNetwork(ctx context.Context, n Network, u *undo.Steps) error {
	if n.Driver == DefaultDriver {
		// The overlay driver makes the VXLAN ids' bitmask with the first
		// overlay network.
		if err := s.create(ctx, vxlanIDKey, string(newVNIMask().encode())); err != nil && !errors.Is(err, etcdv2.ErrNodeExist) {
			return err
		}
		if err := s.create(ctx, overlayKey(n.ID), string(encodeOverlay(n))); err != nil {
			return err
		}
		u.Add(func() { s.deleteKey(ctx, overlayKey(n.ID)) })
	}
	if err := s.create(ctx, endpointCountKey(n.ID), string(mustJSON(endpointCountJSON{}))); err != nil {
		return err
	}
	u.Add(func() { s.deleteKey(ctx, endpointCountKey(n.ID)) })
	value := string(encodeNetwork(n))
	err := s.create(ctx, networkKey(n.ID), value)
	if errors.Is(err, etcdv2.ErrNodeExist) {
		// This very request may have committed though its answer was lost:
		// the key is then ours, value and all.
		if node, gerr := s.get(ctx, networkKey(n.ID)); gerr == nil && node != nil && node.Value == value {
			return nil
		}
	}
	return err
}

// takePool takes the network's subnet in the address space and its
// gateway in the subnet's bitmask; u gets their release.
func (s *Etcd) takePool(ctx context.Context, req Network, u *undo.Steps) (Network, error) {
	for {
		node, err := s.get(ctx, poolConfigKey)
		if err != nil {
			s.skipPool(req)
			return Network{}, err
		}
		ps, prev, scope := newPoolSpace(), uint64(0), "global"
		if node != nil {
			if ps, err = decodePoolSpace([]byte(node.Value)); err != nil {
				return Network{}, fmt.Errorf("%s: %w", poolConfigKey, err)
			}
			prev, scope = node.ModifiedIndex, ""
		}
		s.mu.Lock()
		s.pools = ps.clone()
		start := s.nextPool
		s.mu.Unlock()
		subnet, isNew, next, err := pickSubnet(req, ps, start)
		if err != nil {
			return Network{}, err
		}
		ok, err := s.swap(ctx, poolConfigKey, string(ps.encode(scope)), prev)
		if err != nil {
			return Network{}, err
		}
		if !ok {
			continue // another host changed the pools meanwhile
		}
		s.mu.Lock()
		s.nextPool = next
		s.mu.Unlock()
		n := req.clone()
		n.Subnet = subnet
		n.Gateway = gatewayOf(n)
		u.Add(func() { s.releasePool(ctx, n) })
		return n, s.takeGateway(ctx, n, isNew)
	}
}

// skipPool moves this client's search for a subnet on, past the one it
// would take by what it last read of the pools, when a create fails before
// it could read them: a daemon's libnetwork picks the pool from what it
// knows before it reads the store, so that a create that fails for lack of
// a quorum costs it a subnet (its next network gets the one after).
func (s *Etcd) skipPool(req Network) {
	if req.UserSubnet {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pools
	if ps == nil {
		ps = newPoolSpace()
	}
	if _, _, next, err := pickSubnet(req, ps.clone(), s.nextPool); err == nil {
		s.nextPool = next
	}
}

// takeGateway takes a new network's gateway: in the subnet's new bitmask,
// made with it, or in the bitmask of a subnet shared through --ip-range.
func (s *Etcd) takeGateway(ctx context.Context, n Network, isNew bool) error {
	if isNew {
		b := newAddressMask(n.Subnet)
		if err := b.set(ordinal(n.Subnet, n.Gateway)); err != nil {
			return errGateway(n.Gateway)
		}
		err := s.create(ctx, poolDataKey(n.Subnet), string(b.encode()))
		if !errors.Is(err, etcdv2.ErrNodeExist) {
			return err
		}
		// Left by a network whose removal failed half-way: the gateway is
		// taken in it below, as in a shared subnet.
	}
	_, err := s.takeAddressIn(ctx, n, n.Gateway)
	if netimpl.KindOf(err) == netimpl.KindForbidden {
		return errGateway(n.Gateway)
	}
	return err
}

// releasePool gives back a network's range or subnet, and then either the
// subnet's bitmask (the subnet went) or its gateway in it.
func (s *Etcd) releasePool(ctx context.Context, n Network) error {
	for {
		node, err := s.get(ctx, poolConfigKey)
		if err != nil || node == nil {
			return err
		}
		ps, err := decodePoolSpace([]byte(node.Value))
		if err != nil {
			return fmt.Errorf("%s: %w", poolConfigKey, err)
		}
		gone := ps.remove(n.Subnet, n.IPRange)
		ok, err := s.swap(ctx, poolConfigKey, string(ps.encode("")), node.ModifiedIndex)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if gone {
			return s.deleteKey(ctx, poolDataKey(n.Subnet))
		}
		return s.releaseAddressIn(ctx, n.Subnet, n.Gateway)
	}
}

// DeleteNetwork implements Store: it removes the network if its endpoint
// count is 0 and stays so (the count is deleted by compare-and-delete: an
// endpoint that joins meanwhile makes it fail), then the network's key,
// its overlay record and VXLAN id, and its pool. Its endpoint directory
// stays, as on Docker.
func (s *Etcd) DeleteNetwork(ctx context.Context, id string) error {
	op := "delete network " + id
	if !validID(id) {
		return errNetworkNotFound(id)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.getNetwork(octx, id)
	if err != nil {
		return s.opError(ctx, op, err)
	}
	if err := s.deleteCount(octx, n); err != nil {
		return s.opError(ctx, op, err)
	}
	if err := s.deleteKey(octx, networkKey(id)); err != nil {
		return s.fail(ctx, op, err)
	}
	if node, err := s.get(octx, overlayKey(id)); err != nil {
		return s.fail(ctx, op, err)
	} else if node != nil {
		if o, err := decodeOverlay([]byte(node.Value)); err == nil && o.Subnets[0].Vni != 0 {
			if err := s.releaseVNI(octx, o.Subnets[0].Vni); err != nil {
				return s.fail(ctx, op, err)
			}
		}
		if err := s.deleteKey(octx, overlayKey(id)); err != nil {
			return s.fail(ctx, op, err)
		}
	}
	return s.fail(ctx, op, s.releasePool(octx, n))
}

// deleteCount deletes a network's endpoint count if it is 0.
func (s *Etcd) deleteCount(ctx context.Context, n Network) error {
	for {
		node, err := s.get(ctx, endpointCountKey(n.ID))
		if err != nil || node == nil {
			return err
		}
		var c endpointCountJSON
		if err := json.Unmarshal([]byte(node.Value), &c); err != nil {
			return fmt.Errorf("%s: %w", endpointCountKey(n.ID), err)
		}
		if c.Count > 0 {
			return errActiveEndpoints(n)
		}
		err = s.del(ctx, endpointCountKey(n.ID), etcdv2.DeleteOptions{PrevIndex: node.ModifiedIndex})
		if !errors.Is(err, etcdv2.ErrTestFailed) && !errors.Is(err, etcdv2.ErrKeyNotFound) {
			return err
		}
	}
}

// Network implements Store.
func (s *Etcd) Network(ctx context.Context, id string) (Network, error) {
	if !validID(id) {
		return Network{}, errNetworkNotFound(id)
	}
	op := "network " + id
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.getNetwork(octx, id)
	if err != nil {
		return Network{}, s.opError(ctx, op, err)
	}
	node, err := s.get(octx, overlayKey(id))
	if err != nil {
		return Network{}, s.fail(ctx, op, err)
	}
	if node != nil {
		if o, err := decodeOverlay([]byte(node.Value)); err == nil {
			n.VNI = o.Subnets[0].Vni
		}
	}
	return n, nil
}

// getNetwork reads and decodes a network; not found is the store's error.
func (s *Etcd) getNetwork(ctx context.Context, id string) (Network, error) {
	node, err := s.get(ctx, networkKey(id))
	if err != nil {
		return Network{}, err
	}
	if node == nil {
		return Network{}, errNetworkNotFound(id)
	}
	n, err := decodeNetwork([]byte(node.Value))
	if err != nil {
		return Network{}, fmt.Errorf("%s: %w", networkKey(id), err)
	}
	return n, nil
}

// Networks implements Store.
func (s *Etcd) Networks(ctx context.Context) ([]Network, error) {
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.listNetworks(octx)
	if err != nil {
		return nil, s.fail(ctx, "list networks", err)
	}
	vnis := map[string]uint32{}
	err = s.walk(octx, overlayDir, func(key, value string) error {
		if o, err := decodeOverlay([]byte(value)); err == nil {
			vnis[key[len(overlayDir):]] = o.Subnets[0].Vni
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, "list networks", err)
	}
	for i := range out {
		out[i].VNI = vnis[out[i].ID]
	}
	sortNetworks(out)
	return out, nil
}

func (s *Etcd) listNetworks(ctx context.Context) ([]Network, error) {
	var out []Network
	err := s.walk(ctx, networkDir, func(key, value string) error {
		n, err := decodeNetwork([]byte(value))
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// opError is err as the store reports it: its own errors (a name taken,
// no free subnet) as they are, the cluster's through fail.
func (s *Etcd) opError(ctx context.Context, op string, err error) error {
	var ne *netimpl.Error
	if errors.As(err, &ne) {
		return err
	}
	return s.fail(ctx, op, err)
}
