package netimpl

import "sync"

// Singleton is the network bookkeeping of a driver that allows only one
// network of its type, as libnetwork's host and null drivers do: embed it,
// with Type set to the network type, to get the driver's CreateNetwork and
// DeleteNetwork.
type Singleton struct {
	// Type is the network type, named in the error for a second network.
	Type string

	mu      sync.Mutex
	network string
}

// CreateNetwork records the single network of this type; a second one is
// forbidden with Docker's message.
func (s *Singleton) CreateNetwork(n *Network) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.network != "" {
		return Errorf(KindForbidden, "only one instance of %q network is allowed", s.Type)
	}
	s.network = n.ID
	return nil
}

// DeleteNetwork forgets it.
func (s *Singleton) DeleteNetwork(n *Network) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.network == n.ID {
		s.network = ""
	}
	return nil
}
