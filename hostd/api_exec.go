package hostd

import (
	"net/http"

	"github.com/nslab/nslab/hostd/proc"
)

func (s *server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var cfg execConfig
	if err := decodeBody(r, &cfg); err != nil {
		return err
	}
	id, err := s.d.createExec(r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
}

// execStart checks the exec, then (unless detached) hijacks the connection
// like dockerd: 101 UPGRADED when asked to upgrade, else 200 with the
// stream on the same connection.
func (s *server) execStart(w http.ResponseWriter, r *http.Request) error {
	var req execStartRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	e, run, err := s.d.beginExec(r.PathValue("id"))
	if err != nil {
		return err
	}
	size := req.ConsoleSize
	if size == nil {
		size = e.cfg.ConsoleSize
	}
	if req.Detach {
		go s.d.runExec(e, run, size, nil)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	conn, in, err := hijack(w, r)
	if err != nil {
		return err
	}
	s.d.runExec(e, run, size, &execIO{conn: conn, in: in, out: &proc.MuxWriter{W: conn, TTY: e.cfg.Tty}})
	return nil
}

func (s *server) execResize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := resizeArgs(r)
	if err != nil {
		return err
	}
	if err := s.d.resizeExec(r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) execInspect(w http.ResponseWriter, r *http.Request) error {
	d := s.d
	d.mu.Lock()
	e, err := d.execByID(r.PathValue("id"))
	if err != nil {
		d.mu.Unlock()
		return err
	}
	cmd := e.cfg.Cmd
	out := ExecInspect{
		ID:      e.ID,
		Running: e.running,
		ProcessConfig: ProcessConfig{
			Privileged: e.cfg.Privileged,
			User:       e.cfg.User,
			Tty:        e.cfg.Tty,
			Entrypoint: cmd[0],
			Arguments:  append([]string{}, cmd[1:]...),
		},
		OpenStdin:   e.cfg.AttachStdin,
		OpenStderr:  e.cfg.AttachStderr,
		OpenStdout:  e.cfg.AttachStdout,
		ContainerID: e.c.ID,
		DetachKeys:  e.cfg.DetachKeys,
		Pid:         e.pid,
	}
	if e.exitCode != nil {
		code := *e.exitCode
		out.ExitCode = &code
	}
	d.mu.Unlock()
	return writeJSON(w, http.StatusOK, out)
}
