package store

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
)

// Host is the host a store client writes for: its name and dockerd's
// --cluster-advertise address, whose IP is the VTEP of its endpoints.
type Host struct {
	Name      string
	Advertise netip.AddrPort
}

func (h Host) check() error {
	if !validID(h.Name) {
		return fmt.Errorf("store: host name %q: want a name without '/'", h.Name)
	}
	if !h.Advertise.Addr().Is4() {
		return fmt.Errorf("store: host %s: advertise address %q: want IPv4:port", h.Name, h.Advertise)
	}
	return nil
}

// Local is the store of a single host, in memory: the same rules as Etcd
// (names, subnets, VNIs and addresses taken once, in libnetwork's order),
// with nobody to share them with.
type Local struct {
	host Host

	mu        sync.Mutex
	closed    bool
	networks  map[string]Network
	pools     *poolSpace
	masks     map[netip.Prefix]*bitmask // subnet → its addresses
	vnis      *bitmask
	nextPool  int
	nextVNI   uint64
	endpoints map[string]Endpoint // endpointKey → endpoint
	watchers  map[*watchQueue]bool
}

// NewLocal returns an empty in-memory store for host.
func NewLocal(host Host) (*Local, error) {
	if err := host.check(); err != nil {
		return nil, err
	}
	return &Local{
		host:      host,
		networks:  map[string]Network{},
		pools:     newPoolSpace(),
		masks:     map[netip.Prefix]*bitmask{},
		vnis:      newVNIMask(),
		endpoints: map[string]Endpoint{},
		watchers:  map[*watchQueue]bool{},
	}, nil
}

var _ Store = (*Local)(nil)

func (s *Local) errClosed(op string) error {
	return &UnavailableError{Op: op, Cause: fmt.Errorf("store closed")}
}

// CreateNetwork implements Store.
func (s *Local) CreateNetwork(_ context.Context, n Network) (Network, error) {
	n, err := checkNetwork(n)
	if err != nil {
		return Network{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Network{}, s.errClosed("create network " + n.Name)
	}
	for _, o := range s.networks {
		if o.Name == n.Name {
			return Network{}, errNameExists(n.Name)
		}
	}
	if _, dup := s.networks[n.ID]; dup {
		return Network{}, fmt.Errorf("network id %s exists already", n.ID)
	}
	subnet, isNew, next, err := pickSubnet(n, s.pools, s.nextPool)
	s.nextPool = next
	if err != nil {
		return Network{}, err
	}
	n.Subnet = subnet
	n.Gateway = gatewayOf(n)
	if isNew {
		s.masks[subnet] = newAddressMask(subnet)
	}
	if err := s.masks[subnet].set(ordinal(subnet, n.Gateway)); err != nil {
		if s.pools.remove(n.Subnet, n.IPRange) {
			delete(s.masks, subnet)
		}
		return Network{}, errGateway(n.Gateway)
	}
	s.networks[n.ID] = n
	s.publish(Event{Kind: NetworkAdded, Network: n.clone()})
	return n.clone(), nil
}

// DeleteNetwork implements Store.
func (s *Local) DeleteNetwork(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.networks[id]
	if !ok {
		return errNetworkNotFound(id)
	}
	for _, ep := range s.endpoints {
		if ep.NetworkID == id {
			return errActiveEndpoints(n)
		}
	}
	delete(s.networks, id)
	if n.VNI != 0 {
		s.vnis.unset(uint64(n.VNI - FirstVNI))
	}
	if s.pools.remove(n.Subnet, n.IPRange) {
		delete(s.masks, n.Subnet)
	} else {
		s.masks[n.Subnet].unset(ordinal(n.Subnet, n.Gateway))
	}
	s.publish(Event{Kind: NetworkDeleted, Network: n.clone()})
	return nil
}

// EnsureVNI implements Store.
func (s *Local) EnsureVNI(_ context.Context, networkID string) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.networks[networkID]
	if !ok {
		return 0, errNetworkNotFound(networkID)
	}
	if n.VNI == 0 {
		var err error
		if n.VNI, s.nextVNI, err = takeVNI(s.vnis, s.nextVNI); err != nil {
			return 0, err
		}
		s.networks[networkID] = n
	}
	return n.VNI, nil
}

// Network implements Store.
func (s *Local) Network(_ context.Context, id string) (Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.networks[id]
	if !ok {
		return Network{}, errNetworkNotFound(id)
	}
	return n.clone(), nil
}

// Networks implements Store.
func (s *Local) Networks(context.Context) ([]Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.networkList(), nil
}

func (s *Local) networkList() []Network {
	out := make([]Network, 0, len(s.networks))
	for _, n := range s.networks {
		out = append(out, n.clone())
	}
	sortNetworks(out)
	return out
}

// AllocateAddress implements Store.
func (s *Local) AllocateAddress(_ context.Context, networkID string, want netip.Addr) (netip.Prefix, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.Prefix{}, s.errClosed("network " + networkID + ": allocate address")
	}
	n, ok := s.networks[networkID]
	if !ok {
		return netip.Prefix{}, errNetworkNotFound(networkID)
	}
	return takeAddress(s.masks[n.Subnet], n, want.Unmap())
}

// ReleaseAddress implements Store.
func (s *Local) ReleaseAddress(_ context.Context, networkID string, addr netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.networks[networkID]; ok && n.Subnet.Contains(addr.Unmap()) {
		s.masks[n.Subnet].unset(ordinal(n.Subnet, addr.Unmap()))
	}
	return nil
}

// PutEndpoint implements Store.
func (s *Local) PutEndpoint(_ context.Context, ep Endpoint) error {
	ep = ep.clone()
	ep.VTEP = s.host.Advertise.Addr()
	if err := checkEndpoint(ep); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.errClosed("network " + ep.NetworkID + ": publish endpoint " + ep.Name)
	}
	if _, ok := s.networks[ep.NetworkID]; !ok {
		return errNetworkNotFound(ep.NetworkID)
	}
	k := endpointKey(ep.NetworkID, ep.ID)
	if _, dup := s.endpoints[k]; dup {
		return fmt.Errorf("endpoint %s exists already", ep.ID)
	}
	s.endpoints[k] = ep
	s.publish(Event{Kind: EndpointAdded, Endpoint: ep.clone()})
	return nil
}

// DeleteEndpoint implements Store.
func (s *Local) DeleteEndpoint(_ context.Context, networkID, endpointID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := endpointKey(networkID, endpointID)
	ep, ok := s.endpoints[k]
	if !ok {
		return nil
	}
	delete(s.endpoints, k)
	s.publish(Event{Kind: EndpointDeleted, Endpoint: ep.clone()})
	return nil
}

// Endpoints implements Store.
func (s *Local) Endpoints(_ context.Context, networkID string) ([]Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endpointList(networkID), nil
}

func (s *Local) endpointList(networkID string) []Endpoint {
	var out []Endpoint
	for _, ep := range s.endpoints {
		if networkID == "" || ep.NetworkID == networkID {
			out = append(out, ep.clone())
		}
	}
	sortEndpoints(out)
	return out
}

// Watch implements Store.
func (s *Local) Watch(ctx context.Context) <-chan Event {
	q := newWatchQueue()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		q.close()
		return q.run(ctx)
	}
	for _, n := range s.networkList() {
		q.push(Event{Kind: NetworkAdded, Network: n})
	}
	for _, ep := range s.endpointList("") {
		q.push(Event{Kind: EndpointAdded, Endpoint: ep})
	}
	q.push(Event{Kind: Synced})
	s.watchers[q] = true
	s.mu.Unlock()
	out := q.run(ctx)
	go func() {
		<-q.done
		s.mu.Lock()
		delete(s.watchers, q)
		s.mu.Unlock()
	}()
	return out
}

// publish queues ev for every watcher; s.mu is held.
func (s *Local) publish(ev Event) {
	for q := range s.watchers {
		q.push(ev)
	}
}

// Close ends the watches; later operations that change the store or
// start a watch fail or return a closed channel.
// Rewind: see Store.
func (s *Local) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextPool, s.nextVNI = 0, 0
}

func (s *Local) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for q := range s.watchers {
		q.close()
	}
	return nil
}
