package api

import (
	"net/http"

	"github.com/nslab/nslab/netimpl/controller"
)

// The /nslab/ endpoints are hostd's own, outside the Docker API: what a
// virtual host offers beyond dockerd, such as Ethernet-over-GRE tunnels
// joined to a docker bridge (controller.Tunnel), and putting the daemon
// back to how it started (nslab reset).
func (s *server) nslabRoutes() {
	s.handle("POST /nslab/reset", s.reset)
	s.handle("GET /nslab/gre", s.greList)
	s.handle("POST /nslab/gre", s.greCreate)
	s.handle("DELETE /nslab/gre/{name}", s.greDelete)
}

// GRETunnel is a gretap tunnel as POST /nslab/gre takes it and the other
// /nslab/gre endpoints show it.
type GRETunnel = controller.Tunnel

func (s *server) greList(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.d.Controller().Tunnels())
}

func (s *server) greCreate(w http.ResponseWriter, r *http.Request) error {
	var req GRETunnel
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, err := s.d.Controller().AddTunnel(req)
	if err != nil {
		return err
	}
	s.log.Printf("gre %s: local %s remote %s bridge %q: %s, mtu %d", t.Name, t.Local, t.Remote, t.Bridge, t.Impl, t.MTU)
	return writeJSON(w, http.StatusCreated, t)
}

func (s *server) greDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Controller().RemoveTunnel(r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reset is POST /nslab/reset: the daemon as it started, in process
// (hostd.Daemon.Reset); 204 when done.
func (s *server) reset(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Reset(); err != nil {
		return err
	}
	s.log.Printf("reset: the daemon is as it started")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
