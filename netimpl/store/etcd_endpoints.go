package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/store/internal/etcdv2"
)

// AllocateAddress implements Store: the address's bit is taken in its
// subnet's bitmask by compare-and-swap, and taken again from a fresh read
// when another host's change came first.
func (s *Etcd) AllocateAddress(ctx context.Context, networkID string, want netip.Addr) (netip.Prefix, error) {
	op := fmt.Sprintf("network %s: allocate address", networkID)
	if !validID(networkID) {
		return netip.Prefix{}, errNetworkNotFound(networkID)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.getNetwork(octx, networkID)
	if err != nil {
		return netip.Prefix{}, s.opError(ctx, op, err)
	}
	p, err := s.takeAddressIn(octx, n, want.Unmap())
	if err != nil {
		return netip.Prefix{}, s.opError(ctx, op, err)
	}
	s.mu.Lock()
	s.addresses[addressOwnKey(networkID, p.Addr())] = p.Addr()
	s.mu.Unlock()
	return p, nil
}

func (s *Etcd) takeAddressIn(ctx context.Context, n Network, want netip.Addr) (netip.Prefix, error) {
	key := poolDataKey(n.Subnet)
	for {
		node, b, err := s.getBitmask(ctx, key)
		if err != nil {
			return netip.Prefix{}, err
		}
		if node == nil {
			return netip.Prefix{}, errNetworkNotFound(n.ID)
		}
		p, err := takeAddress(b, n, want)
		if err != nil {
			return netip.Prefix{}, err
		}
		if ok, err := s.swap(ctx, key, string(b.encode()), node.ModifiedIndex); err != nil || ok {
			return p, err
		}
	}
}

// ReleaseAddress implements Store.
func (s *Etcd) ReleaseAddress(ctx context.Context, networkID string, addr netip.Addr) error {
	op := fmt.Sprintf("network %s: release address %s", networkID, addr)
	if !validID(networkID) {
		return nil
	}
	addr = addr.Unmap()
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.getNetwork(octx, networkID)
	if netimpl.KindOf(err) == netimpl.KindNotFound {
		err = nil // its addresses went with it
	} else if err == nil {
		err = s.releaseAddressIn(octx, n.Subnet, addr)
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	s.mu.Lock()
	delete(s.addresses, addressOwnKey(networkID, addr))
	s.mu.Unlock()
	return nil
}

func (s *Etcd) releaseAddressIn(ctx context.Context, subnet netip.Prefix, addr netip.Addr) error {
	key := poolDataKey(subnet)
	for {
		node, b, err := s.getBitmask(ctx, key)
		if err != nil || node == nil || !subnet.Contains(addr) || !b.isSet(ordinal(subnet, addr)) {
			return err
		}
		b.unset(ordinal(subnet, addr))
		if ok, err := s.swap(ctx, key, string(b.encode()), node.ModifiedIndex); err != nil || ok {
			return err
		}
	}
}

// EnsureVNI implements Store: with no VXLAN id in the network's overlay
// record yet, the next free one is taken in the VXLAN ids' bitmask and
// written into the record by compare-and-swap; a host that wrote one
// first wins, and the id taken here is given back.
func (s *Etcd) EnsureVNI(ctx context.Context, networkID string) (uint32, error) {
	op := fmt.Sprintf("network %s: VXLAN id", networkID)
	if !validID(networkID) {
		return 0, errNetworkNotFound(networkID)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	for {
		node, err := s.get(octx, overlayKey(networkID))
		if err != nil {
			return 0, s.fail(ctx, op, err)
		}
		if node == nil {
			return 0, errNetworkNotFound(networkID)
		}
		o, err := decodeOverlay([]byte(node.Value))
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", op, overlayKey(networkID), err)
		}
		if vni := o.Subnets[0].Vni; vni != 0 {
			return vni, nil
		}
		vni, err := s.takeVNI(octx)
		if err != nil {
			return 0, s.opError(ctx, op, err)
		}
		o.Subnets[0].Vni = vni
		ok, err := s.swap(octx, overlayKey(networkID), string(mustJSON(o)), node.ModifiedIndex)
		if ok {
			return vni, nil
		}
		if rerr := s.releaseVNI(octx, vni); rerr != nil || err != nil {
			return 0, s.fail(ctx, op, errors.Join(err, rerr))
		}
	}
}

func (s *Etcd) takeVNI(ctx context.Context) (uint32, error) {
	for {
		node, b, err := s.getBitmask(ctx, vxlanIDKey)
		if err != nil {
			return 0, err
		}
		var prev uint64
		if node == nil {
			b = newVNIMask()
		} else {
			prev = node.ModifiedIndex
		}
		s.mu.Lock()
		from := s.nextVNI
		s.mu.Unlock()
		vni, next, err := takeVNI(b, from)
		if err != nil {
			return 0, err
		}
		ok, err := s.swap(ctx, vxlanIDKey, string(b.encode()), prev)
		if err != nil {
			return 0, err
		}
		if ok {
			s.mu.Lock()
			s.nextVNI = next
			s.mu.Unlock()
			return vni, nil
		}
	}
}

func (s *Etcd) releaseVNI(ctx context.Context, vni uint32) error {
	for {
		node, b, err := s.getBitmask(ctx, vxlanIDKey)
		if err != nil || node == nil || vni < FirstVNI {
			return err
		}
		b.unset(uint64(vni - FirstVNI))
		if ok, err := s.swap(ctx, vxlanIDKey, string(b.encode()), node.ModifiedIndex); err != nil || ok {
			return err
		}
	}
}

// PutEndpoint implements Store: the network's endpoint count goes up (a
// network being removed has none, and the join fails), then the
// endpoint's key is made.
func (s *Etcd) PutEndpoint(ctx context.Context, ep Endpoint) error {
	ep = ep.clone()
	ep.VTEP = s.cfg.Host.Advertise.Addr()
	if err := checkEndpoint(ep); err != nil {
		return err
	}
	op := fmt.Sprintf("network %s: publish endpoint %s", ep.NetworkID, ep.Name)
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.getNetwork(octx, ep.NetworkID)
	if err != nil {
		return s.opError(ctx, op, err)
	}
	if err := s.addCount(octx, n.ID, 1); err != nil {
		return s.opError(ctx, op, err)
	}
	key := endpointKey(ep.NetworkID, ep.ID)
	if err := s.create(octx, key, string(encodeEndpoint(ep, poolID(n.Subnet, n.IPRange)))); err != nil {
		uerr := s.addCount(octx, n.ID, -1)
		if errors.Is(err, etcdv2.ErrNodeExist) && uerr == nil {
			return netimpl.Errorf(netimpl.KindConflict, "%s: endpoint %s exists already", op, ep.ID)
		}
		return s.fail(ctx, op, errors.Join(err, uerr))
	}
	s.mu.Lock()
	s.endpoints[key] = ep
	s.mu.Unlock()
	return nil
}

// addCount changes a network's endpoint count by delta, never below 0.
func (s *Etcd) addCount(ctx context.Context, networkID string, delta int) error {
	key := endpointCountKey(networkID)
	for {
		node, err := s.get(ctx, key)
		if err != nil {
			return err
		}
		if node == nil {
			return errNetworkNotFound(networkID)
		}
		var c endpointCountJSON
		if err := json.Unmarshal([]byte(node.Value), &c); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if delta < 0 && c.Count == 0 {
			return nil
		}
		c.Count = uint64(int64(c.Count) + int64(delta))
		if ok, err := s.swap(ctx, key, string(mustJSON(c)), node.ModifiedIndex); err != nil || ok {
			return err
		}
	}
}

// DeleteEndpoint implements Store.
func (s *Etcd) DeleteEndpoint(ctx context.Context, networkID, endpointID string) error {
	if !validID(networkID) || !validID(endpointID) {
		return nil
	}
	op := fmt.Sprintf("network %s: withdraw endpoint %s", networkID, endpointID)
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	key := endpointKey(networkID, endpointID)
	err := s.del(octx, key, etcdv2.DeleteOptions{})
	if err == nil {
		if err := s.addCount(octx, networkID, -1); err != nil && netimpl.KindOf(err) != netimpl.KindNotFound {
			return s.fail(ctx, op, err)
		}
	} else if !errors.Is(err, etcdv2.ErrKeyNotFound) {
		return s.fail(ctx, op, err)
	}
	s.mu.Lock()
	delete(s.endpoints, key)
	s.mu.Unlock()
	return nil
}

// Endpoints implements Store.
func (s *Etcd) Endpoints(ctx context.Context, networkID string) ([]Endpoint, error) {
	dir := strings.TrimSuffix(endpointDir, "/")
	if networkID != "" {
		if !validID(networkID) {
			return nil, nil
		}
		dir = endpointNetDir(networkID)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	var out []Endpoint
	err := s.walk(octx, dir, func(key, value string) error {
		if _, _, ok := endpointIDs(key); !ok {
			return nil
		}
		ep, err := decodeEndpoint(key, []byte(value))
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		out = append(out, ep)
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, "list endpoints", err)
	}
	sortEndpoints(out)
	return out, nil
}

// get reads a key through raft; a key that is not there is a nil node.
func (s *Etcd) get(ctx context.Context, key string) (*etcdv2.Node, error) {
	r, err := s.kv.Get(ctx, key, quorum)
	if errors.Is(err, etcdv2.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.Node, nil
}

func (s *Etcd) getBitmask(ctx context.Context, key string) (*etcdv2.Node, *bitmask, error) {
	node, err := s.get(ctx, key)
	if err != nil || node == nil {
		return nil, nil, err
	}
	b, err := decodeBitmask([]byte(node.Value))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", key, err)
	}
	return node, b, nil
}

// walk calls f for every key (not directory) below dir, through raft; a
// directory that is not there has none.
func (s *Etcd) walk(ctx context.Context, dir string, f func(key, value string) error) error {
	r, err := s.kv.Get(ctx, strings.TrimSuffix(dir, "/"), etcdv2.GetOptions{Recursive: true, Sorted: true, Quorum: true})
	if errors.Is(err, etcdv2.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return walkNodes(r.Node, f)
}

func walkNodes(n *etcdv2.Node, f func(key, value string) error) error {
	if !n.Dir {
		return f(n.Key, n.Value)
	}
	for _, c := range n.Nodes {
		if err := walkNodes(c, f); err != nil {
			return err
		}
	}
	return nil
}

// create writes a key that must not exist.
func (s *Etcd) create(ctx context.Context, key, value string) error {
	return s.set(ctx, key, value, etcdv2.SetOptions{PrevExist: etcdv2.PrevNoExist})
}

// swap writes value at key if the key's index is still prev, or, for prev
// 0, if the key does not exist; ok is false when another write came first.
func (s *Etcd) swap(ctx context.Context, key, value string, prev uint64) (ok bool, err error) {
	o := etcdv2.SetOptions{PrevIndex: prev}
	if prev == 0 {
		o.PrevExist = etcdv2.PrevNoExist
	}
	err = s.set(ctx, key, value, o)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, etcdv2.ErrTestFailed), errors.Is(err, etcdv2.ErrNodeExist), errors.Is(err, etcdv2.ErrKeyNotFound):
		return false, nil
	}
	return false, err
}

// deleteKey deletes a key; one that is gone already is fine.
func (s *Etcd) deleteKey(ctx context.Context, key string) error {
	err := s.del(ctx, key, etcdv2.DeleteOptions{})
	if errors.Is(err, etcdv2.ErrKeyNotFound) {
		return nil
	}
	return err
}
