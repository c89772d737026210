package hostd

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/netimpl"
)

// A ContainerView is a container as the daemon read it under its lock: what the API
// renders for inspect and ps. A copy: nothing in it is the daemon's.
type ContainerView struct {
	ID, Name  string
	Created   time.Time
	Argv      []string
	State     string // created, running, exited or removing
	ExitCode  int
	Error     string
	Pid       int // 0 when the container does not run
	StartedAt time.Time
	// FinishedAt is when it last exited (zero before that).
	FinishedAt time.Time
	// ImageID is the image it was created from ("" for none); Config.Image
	// is the reference it was created with.
	ImageID                                          string
	ResolvConfPath, HostnamePath, HostsPath, LogPath string
	// ExecIDs are its execs that have not ended.
	ExecIDs    []string
	Config     types.ContainerConfig
	HostConfig types.HostConfig
	// Links are its links as Docker's link graph shows them,
	// "/target:/container/alias"; nil when there are none.
	Links []string
	// Lower are the root filesystem's lower directories, topmost first;
	// Upper, Work and Merged its overlay's other directories.
	Lower                 []string
	Upper, Work, Merged   string
	Mounts                []types.MountPoint
	Ports                 map[string][]types.PortBinding
	Networks              map[string]*types.EndpointSettings
	SandboxID, SandboxKey string
}

// ContainerView returns the container ref names as it is now.
func (d *Daemon) ContainerView(ref string) (ContainerView, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup(ref)
	if err != nil {
		return ContainerView{}, err
	}
	return d.view(c), nil
}

// ContainerViews returns every container as it is now, newest first.
func (d *Daemon) ContainerViews() []ContainerView {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ContainerView, 0, len(d.containers))
	for _, c := range d.containers {
		out = append(out, d.view(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// view copies what inspect and ps show of c. Callers hold d.mu.
func (d *Daemon) view(c *Container) ContainerView {
	v := ContainerView{
		ID: c.ID, Name: c.Name, Created: c.Created, Argv: c.argv(),
		State: c.state, ExitCode: c.exitCode, Error: c.errMsg, StartedAt: c.startedAt, FinishedAt: c.finishedAt,
		ResolvConfPath: c.resolvPath, HostnamePath: c.hostnamePath, HostsPath: c.hostsPath, LogPath: c.logPath(),
		ExecIDs: d.runningExecs(c), Config: c.Config, HostConfig: c.HostConfig, Links: linksView(c),
		Upper: c.upperDir(), Work: c.workDirFS(), Merged: c.rootDir(),
		Mounts: mountsView(c), Ports: d.publishedPorts(c), Networks: cloneNetworks(c.networks),
	}
	if c.image != nil {
		v.ImageID = c.image.ID
		v.Lower = d.layers(c)
		slices.Reverse(v.Lower)
	}
	// The last sandbox stays shown after the container stopped, as Docker's;
	// a container:NAME container has no sandbox of its own: both fields empty.
	if c.sandbox.Kind != netimpl.SandboxShared {
		v.SandboxID, v.SandboxKey = c.sandbox.ID, c.sandbox.Key
	}
	if c.run != nil {
		v.Pid = c.run.pid
	}
	return v
}

// cloneNetworks copies the endpoint settings for a view. Callers hold d.mu.
func cloneNetworks(in map[string]*types.EndpointSettings) map[string]*types.EndpointSettings {
	out := make(map[string]*types.EndpointSettings, len(in))
	for k, v := range in {
		cp := *v
		cp.DriverOpts = maps.Clone(v.DriverOpts)
		out[k] = &cp
	}
	return out
}

// linksView is inspect's HostConfig.Links: Docker shows the links of its
// link graph, "/target:/container/alias", and null when there are none.
func linksView(c *Container) []string {
	var out []string
	for _, l := range c.HostConfig.Links {
		name, alias := parseLink(l)
		out = append(out, "/"+name+":/"+c.Name+"/"+alias)
	}
	return out
}

// runningExecs is inspect's ExecIDs: the container's execs that have not
// ended (Docker drops an exec from its container's list when it exits,
// and keeps it for exec inspect). null when there is none. Callers hold
// d.mu.
func (d *Daemon) runningExecs(c *Container) []string {
	var out []string
	for _, id := range c.execIDs {
		if e := d.execs[id]; e != nil && e.exitCode == nil {
			out = append(out, id)
		}
	}
	return out
}

// mountsView lists the container's mounts as inspect and ps show them:
// binds, volumes and --mount tmpfs (--tmpfs ones are HostConfig.Tmpfs
// only, as in Docker). Callers hold d.mu.
func mountsView(c *Container) []types.MountPoint {
	out := []types.MountPoint{}
	for _, m := range c.mounts {
		if m.TmpfsFlag {
			continue
		}
		out = append(out, types.MountPoint{Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination,
			Driver: m.Driver, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation})
	}
	return out
}
