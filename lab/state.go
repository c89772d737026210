package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/nslab/nslab/netns/kernel"
)

// DefaultRoot holds one state directory per lab.
const DefaultRoot = "/run/nslab"

// stateRoot is the state root a caller names: root, or DefaultRoot for "".
func stateRoot(root string) string {
	if root == "" {
		return DefaultRoot
	}
	return root
}

const stateFile = "lab.json"

// Lab states as recorded in lab.json.
const (
	StateStarting = "starting"
	StateUp       = "up"
)

// idRE is the shape of a lab id; every name a lab makes starts with it and
// a dash, and an id holds no dash, so one lab's names never match another's.
var idRE = regexp.MustCompile(`^[a-z][a-z0-9]{2,9}$`)

// labState is lab.json: written before the first namespace exists, so that
// a lab whose owner died anywhere in Up is still found and removed by GC.
type labState struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	File     string    `json:"file,omitempty"`
	Topology *Topology `json:"topology"`
	Owner    int       `json:"owner"`
	// OwnerStart is field 22 of /proc/<owner>/stat (start time in clock
	// ticks since boot): a different process reusing the pid has another.
	OwnerStart uint64    `json:"ownerStart"`
	Created    time.Time `json:"created"`
	State      string    `json:"state"`
	// HostdPIDs are the pids of the hosts' daemons (hostd or dockerd).
	HostdPIDs map[string]int `json:"hostdPids,omitempty"`
	// OnDemand says that docker hosts start their daemon at their first
	// use (Options.OnDemand).
	OnDemand bool `json:"onDemand,omitempty"`
	// Runtime is the daemon of the docker hosts ("" is hostd).
	Runtime string `json:"runtime,omitempty"`
	// DataDir is the lab's data directory, <data root>/<id>, holding each
	// docker host's hostd --data-root.
	DataDir string `json:"dataDir,omitempty"`
	// EtcdBinary is the nslab-etcd that runs the lab's etcd members
	// ("" without members); StartEtcd uses it again.
	EtcdBinary string `json:"etcdBinary,omitempty"`
	// Hostd and Dockerd are the daemon program of the docker hosts (one of
	// them, by runtime), which Reset starts again.
	Hostd   string `json:"hostd,omitempty"`
	Dockerd string `json:"dockerd,omitempty"`
}

// Summary describes one lab found under a state root.
type Summary struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	File    string    `json:"file"`
	Owner   int       `json:"owner"`
	Alive   bool      `json:"alive"` // the owner process still runs
	Hosts   []string  `json:"hosts"`
	Created time.Time `json:"created"`
	State   string    `json:"state"`
}

func readState(dir string) (*labState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s labState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	if !idRE.MatchString(s.ID) {
		return nil, fmt.Errorf("%s: bad lab id %q", filepath.Join(dir, stateFile), s.ID)
	}
	return &s, nil
}

// writeState replaces lab.json atomically: a reader (GC in another process)
// sees the old or the new file, never half of one.
func writeState(dir string, s *labState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// procStart returns the start time of pid and whether the process exists
// and is not a zombie (kernel.StartTime).
func procStart(pid int) (uint64, bool) { return kernel.StartTime(pid) }

// ownerAlive reports whether the process recorded as owner still runs: same
// pid and same start time.
func (s *labState) ownerAlive() bool {
	start, ok := procStart(s.Owner)
	return ok && start == s.OwnerStart
}

func (s *labState) summary() Summary {
	sum := Summary{ID: s.ID, Name: s.Name, File: s.File, Owner: s.Owner, Alive: s.ownerAlive(), Created: s.Created, State: s.State}
	if s.Topology != nil {
		for _, h := range s.Topology.Hosts {
			sum.Hosts = append(sum.Hosts, h.Name)
		}
	}
	return sum
}

// labDirs lists the lab ids that have a state directory under root.
func labDirs(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && idRE.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// List describes every lab with a state directory under root ("" for
// DefaultRoot), sorted by id. A directory whose lab.json cannot be read
// yet (a lab in its first instant) is listed with state "unknown".
func List(root string) ([]Summary, error) {
	root = stateRoot(root)
	ids, err := labDirs(root)
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, id := range ids {
		s, err := readState(filepath.Join(root, id))
		if err != nil {
			out = append(out, Summary{ID: id, State: "unknown"})
			continue
		}
		out = append(out, s.summary())
	}
	return out, nil
}
