package api

import (
	"net/http"

	"github.com/nslab/nslab/hostd"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/proc"
)

func (s *server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var cfg types.ExecConfig
	if err := decodeBody(r, &cfg); err != nil {
		return err
	}
	id, err := s.d.CreateExec(r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
}

// execStart checks the exec, then (unless detached) hijacks the connection
// like dockerd: 101 UPGRADED when asked to upgrade, else 200 with the
// stream on the same connection.
func (s *server) execStart(w http.ResponseWriter, r *http.Request) error {
	var req types.ExecStartRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	e, run, err := s.d.BeginExec(r.PathValue("id"))
	if err != nil {
		return err
	}
	size := req.ConsoleSize
	if size == nil {
		size = e.Config().ConsoleSize
	}
	if req.Detach {
		go s.d.RunExec(e, run, size, nil)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	conn, in, err := hijack(w, r)
	if err != nil {
		return err
	}
	s.d.RunExec(e, run, size, &hostd.ExecIO{Conn: conn, In: in, Out: &proc.MuxWriter{W: conn, TTY: e.Config().Tty}})
	return nil
}

func (s *server) execResize(w http.ResponseWriter, r *http.Request) error {
	return resize(w, r, s.d.ResizeExec)
}

func (s *server) execInspect(w http.ResponseWriter, r *http.Request) error {
	out, err := s.d.InspectExec(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}
