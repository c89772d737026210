package netimpl

import "sync"

// Singleton is a whole driver that allows only one network of its type
// and adds no interface to a sandbox, as libnetwork's host and null
// drivers are: embed it, with DriverInfo set, to get the driver's Info,
// CreateNetwork, DeleteNetwork, Join and Leave.
type Singleton struct {
	// DriverInfo is what Info returns; its Name, the network type, is
	// named in the error for a second network.
	DriverInfo DriverInfo

	mu      sync.Mutex
	network string
}

// Info implements Driver.
func (s *Singleton) Info() DriverInfo { return s.DriverInfo }

// CreateNetwork records the single network of this type; a second one is
// forbidden with Docker's message.
func (s *Singleton) CreateNetwork(n *Network) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.network != "" {
		return Errorf(KindForbidden, "only one instance of %q network is allowed", s.DriverInfo.Name)
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

// Join adds nothing: the sandbox already has all the network it gets (the
// host's own namespace, or a fresh one with its loopback up).
func (s *Singleton) Join(*Network, *Endpoint, *Sandbox) error { return nil }

// Leave removes nothing: what the sandbox has is not the endpoint's.
func (s *Singleton) Leave(*Network, *Endpoint, *Sandbox) error { return nil }
