package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"

	"github.com/nslab/nslab/hostd"

	"github.com/nslab/nslab/hostd/api/types"
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
	req, known, err := decodeCreate(body)
	if err != nil {
		return err
	}
	if known {
		err = refuseOptions(&req)
	} else {
		err = refuseUnsupported(body, &req)
	}
	if err != nil {
		return err
	}
	c, err := s.d.Create(r.FormValue("name"), &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"Id": c.ID, "Warnings": []string{}})
}

// decodeCreate decodes a create request's body and says whether hostd's
// types know every field of it. A body of only known fields (what the CLI
// and the Go SDK send) is decoded once; any other is decoded again without
// that condition, for Docker's error or for refuseUnknownFields to check
// its unknown fields: two more passes over the body that a create, on the
// path of every `docker run`, need not pay.
func decodeCreate(body []byte) (req types.CreateRequest, known bool, err error) {
	strict := json.NewDecoder(bytes.NewReader(body))
	strict.DisallowUnknownFields()
	if strict.Decode(&req) == nil {
		return req, true, nil
	}
	req = types.CreateRequest{}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return req, false, errdefs.BadRequest("Config cannot be empty in order to create a container")
		}
		return req, false, errdefs.BadRequest("%s", err.Error())
	}
	return req, false, nil
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
	return writeJSON(w, http.StatusOK, s.list(f, all, limit))
}

func (s *server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.d.ContainerView(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inspect(&v))
}

// onContainer answers a request that does op to the container the path
// names with Docker's 204 No Content.
func (s *server) onContainer(w http.ResponseWriter, r *http.Request, op func(*hostd.Container) error) error {
	c, err := s.d.Container(r.PathValue("id"))
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
	return s.onContainer(w, r, s.d.Start)
}

// stopLike is stop and restart, which take the seconds to wait (t).
func (s *server) stopLike(w http.ResponseWriter, r *http.Request, op func(*hostd.Container, *int) error) error {
	return s.onContainer(w, r, func(c *hostd.Container) error {
		t, err := intValue(r, "t")
		if err != nil {
			return err
		}
		return op(c, t)
	})
}

func (s *server) containerStop(w http.ResponseWriter, r *http.Request) error {
	return s.stopLike(w, r, s.d.Stop)
}

func (s *server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	return s.stopLike(w, r, s.d.Restart)
}

func (s *server) containerKill(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Container(r.PathValue("id"))
	if err != nil {
		return err
	}
	sig := unix.SIGKILL
	if v := r.FormValue("signal"); v != "" {
		if sig, err = proc.ParseSignal(v, false); err != nil {
			return err
		}
	}
	if err := s.d.Kill(c, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerWait answers the headers at once (the CLI waits for them before
// it starts the container) and the body when the condition holds.
func (s *server) containerWait(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Container(r.PathValue("id"))
	if err != nil {
		return err
	}
	ch, err := s.d.WaitFor(c, r.FormValue("condition"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	code, ok := s.d.WaitCtx(r.Context(), c, ch)
	if !ok {
		return nil
	}
	return json.NewEncoder(w).Encode(map[string]any{"StatusCode": code, "Error": nil})
}

func (s *server) containerDelete(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Container(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.d.Remove(c, boolValue(r, "force"), boolValue(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerRename(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Rename(r.PathValue("id"), r.FormValue("name")); err != nil {
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
	return resize(w, r, s.d.Resize)
}

// resize answers POST /containers/{id}/resize and /exec/{id}/resize: the
// terminal's new height and width, read as Docker reads them, given to do
// for the container or exec named in the path.
func resize(w http.ResponseWriter, r *http.Request, do func(id string, h, w uint16) error) error {
	h, wd, err := resizeArgs(r)
	if err != nil {
		return err
	}
	if err := do(r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// containerTop lists the container's processes (those of its PID
// namespace) with ps, like dockerd runs ps on the host.
func (s *server) containerTop(w http.ResponseWriter, r *http.Request) error {
	c, inNS, err := s.d.Processes(r.PathValue("id"))
	if err != nil {
		return err
	}
	pids := map[string]bool{}
	for _, pid := range inNS {
		pids[strconv.Itoa(pid)] = true
	}
	psArgs := r.FormValue("ps_args")
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := s.d.Reaper().Output(exec.Command("ps", strings.Fields(psArgs)...))
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
	s.d.ContainerEventUnlocked(c, "top", nil)
	return writeJSON(w, http.StatusOK, map[string]any{"Titles": titles, "Processes": procs})
}

func (s *server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	if _, err := filters.Parse(r.FormValue("filters"), "until", "label", "label!"); err != nil {
		return err
	}
	deleted := s.d.PruneContainers()
	return writeJSON(w, http.StatusOK, map[string]any{"ContainersDeleted": deleted, "SpaceReclaimed": 0})
}
