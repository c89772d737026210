package hostd

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/creack/pty"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/filters"
	"github.com/nslab/nslab/hostd/proc"
	"golang.org/x/sys/unix"
)

// validStates are the values of the "status" filter.
var validStates = map[string]bool{"created": true, "restarting": true, "running": true, "removing": true, "paused": true, "exited": true, "dead": true}

func (s *server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return errdefs.BadRequest("%s", err.Error())
	}
	var req createRequest
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return errdefs.BadRequest("Config cannot be empty in order to create a container")
		}
		return errdefs.BadRequest("%s", err.Error())
	}
	if err := refuseUnsupported(body, &req); err != nil {
		return err
	}
	c, err := s.d.create(r.FormValue("name"), &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"Id": c.ID, "Warnings": []string{}})
}

func (s *server) containerList(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.FormValue("filters"), "name", "id", "status", "label", "network", "exited", "ancestor", "before", "since", "health", "isolation", "volume", "publish", "expose", "is-task")
	if err != nil {
		return err
	}
	all := boolValue(r, "all")
	for st := range f["status"] {
		if !validStates[st] {
			return errdefs.BadRequest("Invalid filter 'status=%s'", st)
		}
		all = true
	}
	if f.Has("exited") {
		all = true
	}
	limit, err := intValue(r, "limit")
	if err != nil {
		return err
	}
	d := s.d
	// Outside d.mu: the repository's lock is taken before d.mu, never
	// after it.
	resolve := d.imageResolver()
	ancestors := d.ancestorIDs(f.Values("ancestor"))
	d.mu.Lock()
	list := make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
	out := []ContainerSummary{}
	for _, c := range list {
		if !all && c.state != stateRunning && (limit == nil || *limit <= 0) {
			continue
		}
		if !f.Match("name", "/"+c.Name) || !f.Match("id", c.ID) || !f.Exact("status", c.state) ||
			!f.MatchLabels(c.Config.Labels) || (f.Has("ancestor") && !ancestors[c.image.ID]) {
			continue
		}
		if f.Has("exited") && (c.state != stateExited || !f[("exited")][strconv.Itoa(c.exitCode)]) {
			continue
		}
		if f.Has("network") {
			on := false
			for name, es := range c.networks {
				on = on || f["network"][name] || f["network"][es.NetworkID]
			}
			if !on {
				continue
			}
		}
		out = append(out, d.summary(c, resolve))
		if limit != nil && *limit > 0 && len(out) >= *limit {
			break
		}
	}
	d.mu.Unlock()
	return writeJSON(w, http.StatusOK, out)
}

func (s *server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	d := s.d
	d.mu.Lock()
	c, err := d.lookup(r.PathValue("id"))
	if err != nil {
		d.mu.Unlock()
		return err
	}
	j := d.inspect(c)
	d.mu.Unlock()
	return writeJSON(w, http.StatusOK, j)
}

// onContainer answers a request that does op to the container the path
// names with Docker's 204 No Content.
func (s *server) onContainer(w http.ResponseWriter, r *http.Request, op func(*Container) error) error {
	c, err := s.d.container(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := op(c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerStart(w http.ResponseWriter, r *http.Request) error {
	return s.onContainer(w, r, s.d.start)
}

// stopLike is stop and restart, which take the seconds to wait (t).
func (s *server) stopLike(w http.ResponseWriter, r *http.Request, op func(*Container, *int) error) error {
	return s.onContainer(w, r, func(c *Container) error {
		t, err := intValue(r, "t")
		if err != nil {
			return err
		}
		return op(c, t)
	})
}

func (s *server) containerStop(w http.ResponseWriter, r *http.Request) error {
	return s.stopLike(w, r, s.d.stop)
}

func (s *server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	return s.stopLike(w, r, s.d.restart)
}

func (s *server) containerKill(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.container(r.PathValue("id"))
	if err != nil {
		return err
	}
	sig := unix.SIGKILL
	if v := r.FormValue("signal"); v != "" {
		if sig, err = proc.ParseSignal(v, false); err != nil {
			return err
		}
	}
	if err := s.d.kill(c, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerWait answers the headers at once (the CLI waits for them before
// it starts the container) and the body when the condition holds.
func (s *server) containerWait(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.container(r.PathValue("id"))
	if err != nil {
		return err
	}
	ch, err := s.d.waitFor(c, r.FormValue("condition"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	code, ok := s.d.waitCtx(r.Context(), c, ch)
	if !ok {
		return nil
	}
	return json.NewEncoder(w).Encode(map[string]any{"StatusCode": code, "Error": nil})
}

func (s *server) containerDelete(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.container(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.d.remove(c, boolValue(r, "force"), boolValue(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerRename(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.rename(r.PathValue("id"), r.FormValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resizeArgs reads a resize's height and width (h, w) as Docker does.
func resizeArgs(r *http.Request) (h, w uint16, err error) {
	hv, err := strconv.ParseUint(r.FormValue("h"), 10, 16)
	if err != nil {
		return 0, 0, errdefs.BadRequest("invalid height %q: %v", r.FormValue("h"), err)
	}
	wv, err := strconv.ParseUint(r.FormValue("w"), 10, 16)
	if err != nil {
		return 0, 0, errdefs.BadRequest("invalid width %q: %v", r.FormValue("w"), err)
	}
	return uint16(hv), uint16(wv), nil
}

func (s *server) containerResize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := resizeArgs(r)
	if err != nil {
		return err
	}
	c, run, err := s.d.running(r.PathValue("id"))
	if err != nil {
		return err
	}
	if run.io.PTY != nil {
		if err := pty.Setsize(run.io.PTY, &pty.Winsize{Rows: h, Cols: wd}); err != nil {
			return err
		}
	}
	s.d.containerEventUnlocked(c, "resize", map[string]string{"height": strconv.Itoa(int(h)), "width": strconv.Itoa(int(wd))})
	w.WriteHeader(http.StatusOK)
	return nil
}

// containerTop lists the container's processes (those of its PID
// namespace) with ps, like dockerd runs ps on the host.
func (s *server) containerTop(w http.ResponseWriter, r *http.Request) error {
	c, run, err := s.d.running(r.PathValue("id"))
	if err != nil {
		return err
	}
	pids := map[string]bool{}
	for _, pid := range proc.PIDsInPIDNS(run.pidNS) {
		pids[strconv.Itoa(pid)] = true
	}
	psArgs := r.FormValue("ps_args")
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := s.d.reaper.Output(exec.Command("ps", strings.Fields(psArgs)...))
	if err != nil {
		return errdefs.Errorf(500, "Error running ps: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return errdefs.Errorf(500, "Couldn't find PID field in ps output")
	}
	procs := [][]string{}
	for _, l := range lines[1:] {
		fields := strings.Fields(l)
		if len(fields) <= pidCol || !pids[fields[pidCol]] {
			continue
		}
		if len(fields) > len(titles) {
			fields = append(fields[:len(titles)-1], strings.Join(fields[len(titles)-1:], " "))
		}
		procs = append(procs, fields)
	}
	s.d.containerEventUnlocked(c, "top", nil)
	return writeJSON(w, http.StatusOK, map[string]any{"Titles": titles, "Processes": procs})
}

func (s *server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	if _, err := filters.Parse(r.FormValue("filters"), "until", "label", "label!"); err != nil {
		return err
	}
	d := s.d
	d.mu.Lock()
	var stopped []*Container
	for _, c := range d.containers {
		if c.state != stateRunning {
			stopped = append(stopped, c)
		}
	}
	d.mu.Unlock()
	var deleted []string
	for _, c := range stopped {
		if err := d.remove(c, false, false); err == nil {
			deleted = append(deleted, c.ID)
		}
	}
	d.pruneEvent(eventContainer, 0)
	return writeJSON(w, http.StatusOK, map[string]any{"ContainersDeleted": deleted, "SpaceReclaimed": 0})
}
