package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/nslab/nslab/netimpl/store/internal/etcdv3"

	"github.com/nslab/nslab/netimpl"
)

// CreateNetwork implements Store. One transaction takes the name, the
// subnet, the VNI and the network's keys, on the condition that nothing it
// decided from has changed since it read: the name and VNI still free,
// and no subnet taken since (a subnet may overlap others without sharing
// their key, so the whole pool directory is compared). When another host
// was faster, the transaction's else branch returns the new state and the
// choice is made again.
func (s *Etcd) CreateNetwork(ctx context.Context, n Network) (Network, error) {
	// req stays the request: each try allocates from it afresh.
	req, err := checkNetwork(n)
	if err != nil {
		return Network{}, err
	}
	n = req
	op := "create network " + n.Name
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	reads := []etcdv3.RequestOp{
		etcdv3.OpGet(nameKey(n.Name)),
		etcdv3.OpGet(networkKey(n.ID), etcdv3.WithCountOnly()),
		etcdv3.OpGet(poolDir, etcdv3.WithPrefix(), etcdv3.WithKeysOnly()),
		etcdv3.OpGet(vniDir, etcdv3.WithPrefix(), etcdv3.WithKeysOnly()),
	}
	resp, err := s.kv.Txn(octx, etcdv3.TxnRequest{Success: reads})
	for {
		if err != nil {
			return Network{}, s.fail(ctx, op, err)
		}
		r := ranges(resp)
		if len(r[0].Kvs) > 0 {
			if string(r[0].Kvs[0].Value) == n.ID {
				// This very request committed, though its answer was
				// lost to a leader change (see retryKV).
				return s.Network(ctx, n.ID)
			}
			return Network{}, errNameExists(n.Name)
		}
		if r[1].Count > 0 {
			return Network{}, fmt.Errorf("%s: network id %s exists already", op, n.ID)
		}
		var pools []netip.Prefix
		for _, kv := range r[2].Kvs {
			if p, ok := parsePoolKey(string(kv.Key)); ok {
				pools = append(pools, p)
			}
		}
		vnis := map[uint32]bool{}
		for _, kv := range r[3].Kvs {
			if v, ok := parseVNIKey(string(kv.Key)); ok {
				vnis[v] = true
			}
		}
		a, aerr := allocate(req, pools, vnis)
		if aerr != nil {
			return Network{}, aerr
		}
		n := req.clone()
		n.Subnet, n.Gateway, n.VNI = a.subnet, a.gateway, a.vni
		cmps := []etcdv3.Compare{
			etcdv3.CompareCreate(nameKey(n.Name), etcdv3.Equal, 0),
			etcdv3.CompareCreate(networkKey(n.ID), etcdv3.Equal, 0),
			etcdv3.CompareMod(poolDir, etcdv3.Less, resp.Header.Revision+1).WithPrefix(),
		}
		writes := []etcdv3.RequestOp{
			etcdv3.OpPut(nameKey(n.Name), n.ID),
			etcdv3.OpPut(networkKey(n.ID), string(encodeNetwork(n))),
			etcdv3.OpPut(poolKey(n.Subnet), n.ID),
		}
		if n.VNI != 0 {
			cmps = append(cmps, etcdv3.CompareCreate(vniKey(n.VNI), etcdv3.Equal, 0))
			writes = append(writes,
				etcdv3.OpPut(vniKey(n.VNI), n.ID),
				etcdv3.OpPut(overlayKey(n.ID), string(encodeOverlay(n))))
		}
		resp, err = s.kv.Txn(octx, etcdv3.TxnRequest{Compare: cmps, Success: writes, Failure: reads})
		if err == nil && resp.Succeeded {
			return n.clone(), nil
		}
	}
}

// DeleteNetwork implements Store: it removes the network's keys and every
// allocation it holds, if no endpoint is on it and it is still the
// network that was read.
func (s *Etcd) DeleteNetwork(ctx context.Context, id string) error {
	op := "delete network " + id
	if !validID(id) {
		return errNetworkNotFound(id)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	for {
		n, kv, err := s.getNetwork(octx, id)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if kv == nil {
			return errNetworkNotFound(id)
		}
		dels := []etcdv3.RequestOp{
			etcdv3.OpDelete(networkKey(id)),
			etcdv3.OpDelete(nameKey(n.Name)),
			etcdv3.OpDelete(poolKey(n.Subnet)),
			etcdv3.OpDelete(addressPoolDir(n.Subnet), etcdv3.WithPrefix()),
		}
		if n.VNI != 0 {
			dels = append(dels, etcdv3.OpDelete(vniKey(n.VNI)), etcdv3.OpDelete(overlayKey(id)))
		}
		resp, err := s.kv.Txn(octx, etcdv3.TxnRequest{
			Compare: []etcdv3.Compare{
				etcdv3.CompareMod(networkKey(id), etcdv3.Equal, kv.ModRevision),
				etcdv3.CompareCreate(endpointNetDir(id), etcdv3.Equal, 0).WithPrefix(),
			},
			Success: dels,
			Failure: []etcdv3.RequestOp{etcdv3.OpGet(endpointNetDir(id), etcdv3.WithPrefix(), etcdv3.WithCountOnly())},
		})
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if resp.Succeeded {
			return nil
		}
		if ranges(resp)[0].Count > 0 {
			return errActiveEndpoints(n)
		}
		// The network changed or went: read it again.
	}
}

// getNetwork reads and decodes a network; kv is nil when there is none.
func (s *Etcd) getNetwork(ctx context.Context, id string) (Network, *etcdv3.KeyValue, error) {
	resp, err := s.kv.Get(ctx, networkKey(id))
	if err != nil || len(resp.Kvs) == 0 {
		return Network{}, nil, err
	}
	n, err := decodeNetwork(resp.Kvs[0].Value)
	if err != nil {
		return Network{}, nil, fmt.Errorf("%s: %w", networkKey(id), err)
	}
	return n, resp.Kvs[0], nil
}

// Network implements Store.
func (s *Etcd) Network(ctx context.Context, id string) (Network, error) {
	if !validID(id) {
		return Network{}, errNetworkNotFound(id)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, kv, err := s.getNetwork(octx, id)
	if err != nil {
		return Network{}, s.fail(ctx, "network "+id, err)
	}
	if kv == nil {
		return Network{}, errNetworkNotFound(id)
	}
	return n, nil
}

// Networks implements Store.
func (s *Etcd) Networks(ctx context.Context) ([]Network, error) {
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.kv.Get(octx, networkDir, etcdv3.WithPrefix())
	if err != nil {
		return nil, s.fail(ctx, "list networks", err)
	}
	out := make([]Network, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		n, err := decodeNetwork(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("list networks: %s: %w", kv.Key, err)
		}
		out = append(out, n)
	}
	sortNetworks(out)
	return out, nil
}

// AllocateAddress implements Store: the address key is taken, under the
// host's lease, if it is still free and the network still the one read.
func (s *Etcd) AllocateAddress(ctx context.Context, networkID string, want netip.Addr) (netip.Prefix, error) {
	op := fmt.Sprintf("network %s: allocate address", networkID)
	if !validID(networkID) {
		return netip.Prefix{}, errNetworkNotFound(networkID)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	for {
		lease, err := s.waitLease(octx)
		if err != nil {
			return netip.Prefix{}, s.fail(ctx, op, err)
		}
		n, kv, err := s.getNetwork(octx, networkID)
		if err != nil {
			return netip.Prefix{}, s.fail(ctx, op, err)
		}
		if kv == nil {
			return netip.Prefix{}, errNetworkNotFound(networkID)
		}
		dir := addressPoolDir(n.Subnet)
		taken, err := s.kv.Get(octx, dir, etcdv3.WithPrefix(), etcdv3.WithKeysOnly())
		if err != nil {
			return netip.Prefix{}, s.fail(ctx, op, err)
		}
		var used []netip.Addr
		for _, t := range taken.Kvs {
			if a, ok := parseAddressKey(dir, string(t.Key)); ok {
				used = append(used, a)
			}
		}
		p, err := pickAddress(n, used, want.Unmap())
		if err != nil {
			return netip.Prefix{}, err
		}
		key := addressKey(n.Subnet, p.Addr())
		resp, err := s.kv.Txn(octx, etcdv3.TxnRequest{
			Compare: []etcdv3.Compare{
				etcdv3.CompareMod(networkKey(networkID), etcdv3.Equal, kv.ModRevision),
				etcdv3.CompareCreate(key, etcdv3.Equal, 0),
			},
			Success: []etcdv3.RequestOp{etcdv3.OpPut(key, s.cfg.Host.Name, etcdv3.WithLease(lease))},
		})
		if errors.Is(err, etcdv3.ErrLeaseNotFound) {
			s.dropLease(lease)
			continue
		}
		if err != nil {
			return netip.Prefix{}, s.fail(ctx, op, err)
		}
		if resp.Succeeded {
			s.ownWritten(key, s.cfg.Host.Name, networkID, lease)
			return p, nil
		}
		// Taken meanwhile (or the network went): choose again.
	}
}

// ReleaseAddress implements Store.
func (s *Etcd) ReleaseAddress(ctx context.Context, networkID string, addr netip.Addr) error {
	op := fmt.Sprintf("network %s: release address %s", networkID, addr)
	if !validID(networkID) {
		return nil
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, kv, err := s.getNetwork(octx, networkID)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if kv == nil {
		return nil // its addresses went with it
	}
	key := addressKey(n.Subnet, addr.Unmap())
	if _, err := s.kv.Delete(octx, key); err != nil {
		return s.fail(ctx, op, err)
	}
	s.disown(key)
	return nil
}

// PutEndpoint implements Store: the endpoint is written under the host's
// lease, if its network exists and the endpoint does not yet.
func (s *Etcd) PutEndpoint(ctx context.Context, ep Endpoint) error {
	ep = ep.clone()
	ep.Host, ep.VTEP = s.cfg.Host.Name, s.cfg.Host.Advertise.Addr()
	if err := checkEndpoint(ep); err != nil {
		return err
	}
	op := fmt.Sprintf("network %s: publish endpoint %s", ep.NetworkID, ep.Name)
	key, val := endpointKey(ep.NetworkID, ep.ID), string(encodeEndpoint(ep))
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	for {
		lease, err := s.waitLease(octx)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		resp, err := s.kv.Txn(octx, etcdv3.TxnRequest{
			Compare: []etcdv3.Compare{
				etcdv3.CompareCreate(networkKey(ep.NetworkID), etcdv3.Greater, 0),
				etcdv3.CompareCreate(key, etcdv3.Equal, 0),
			},
			Success: []etcdv3.RequestOp{etcdv3.OpPut(key, val, etcdv3.WithLease(lease))},
			Failure: []etcdv3.RequestOp{etcdv3.OpGet(networkKey(ep.NetworkID), etcdv3.WithCountOnly())},
		})
		if errors.Is(err, etcdv3.ErrLeaseNotFound) {
			s.dropLease(lease)
			continue
		}
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if !resp.Succeeded {
			if ranges(resp)[0].Count == 0 {
				return errNetworkNotFound(ep.NetworkID)
			}
			return netimpl.Errorf(netimpl.KindConflict, "%s: endpoint %s exists already", op, ep.ID)
		}
		s.ownWritten(key, val, ep.NetworkID, lease)
		return nil
	}
}

// DeleteEndpoint implements Store.
func (s *Etcd) DeleteEndpoint(ctx context.Context, networkID, endpointID string) error {
	if !validID(networkID) || !validID(endpointID) {
		return nil
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	key := endpointKey(networkID, endpointID)
	if _, err := s.kv.Delete(octx, key); err != nil {
		return s.fail(ctx, fmt.Sprintf("network %s: withdraw endpoint %s", networkID, endpointID), err)
	}
	s.disown(key)
	return nil
}

// Endpoints implements Store.
func (s *Etcd) Endpoints(ctx context.Context, networkID string) ([]Endpoint, error) {
	dir := endpointDir
	if networkID != "" {
		if !validID(networkID) {
			return nil, nil
		}
		dir = endpointNetDir(networkID)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.kv.Get(octx, dir, etcdv3.WithPrefix())
	if err != nil {
		return nil, s.fail(ctx, "list endpoints", err)
	}
	var out []Endpoint
	for _, kv := range resp.Kvs {
		ep, err := decodeEndpoint(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %s: %w", kv.Key, err)
		}
		out = append(out, ep)
	}
	sortEndpoints(out)
	return out, nil
}

// ownWritten records a key written under lease. If the session moved to a
// new lease meanwhile, it may have rewritten the owned keys before this
// one was among them: the key is written again under the new lease.
func (s *Etcd) ownWritten(key, value, networkID string, lease etcdv3.LeaseID) {
	s.own(key, value, networkID)
	s.mu.Lock()
	cur := s.lease
	s.mu.Unlock()
	if cur != 0 && cur != lease {
		ctx, cancel := s.opCtx(s.ctx)
		defer cancel()
		s.kv.Txn(ctx, etcdv3.TxnRequest{
			Compare: []etcdv3.Compare{etcdv3.CompareCreate(networkKey(networkID), etcdv3.Greater, 0)},
			Success: []etcdv3.RequestOp{etcdv3.OpPut(key, value, etcdv3.WithLease(cur))},
		})
	}
}

// ranges are the range responses of a transaction's branch, in order.
// A response that is not a range's is an empty one.
func ranges(resp *etcdv3.TxnResponse) []*etcdv3.RangeResponse {
	out := make([]*etcdv3.RangeResponse, len(resp.Responses))
	for i, r := range resp.Responses {
		out[i] = r.Range
		if out[i] == nil {
			out[i] = &etcdv3.RangeResponse{}
		}
	}
	return out
}
