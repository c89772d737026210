package hostd

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/filters"
	"github.com/nslab/nslab/netimpl"
)

// humanDuration is go-units' HumanDuration, which `docker ps` shows.
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// statusText is the STATUS column of `docker ps`. Callers hold d.mu.
func statusText(c *Container) string {
	switch c.state {
	case StateRunning:
		return "Up " + humanDuration(time.Since(c.startedAt))
	case StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", c.exitCode, humanDuration(time.Since(c.finishedAt)))
	case stateRemoving:
		return "Removal In Progress"
	}
	return "Created"
}

// cloneNetworks copies the endpoint settings for a response. Callers hold d.mu.
func cloneNetworks(in map[string]*types.EndpointSettings) map[string]*types.EndpointSettings {
	out := make(map[string]*types.EndpointSettings, len(in))
	for k, v := range in {
		cp := *v
		cp.DriverOpts = maps.Clone(v.DriverOpts)
		out[k] = &cp
	}
	return out
}

// inspect renders GET /containers/{id}/json. Callers hold d.mu.
func (d *Daemon) inspect(c *Container) types.ContainerJSON {
	argv := c.argv()
	cfg := c.Config
	hc := c.HostConfig
	j := types.ContainerJSON{
		ID:      c.ID,
		Created: TimeString(c.Created),
		Path:    argv[0],
		Args:    append([]string{}, argv[1:]...),
		State: types.ContainerState{
			Status:     c.state,
			Running:    c.state == StateRunning,
			ExitCode:   c.exitCode,
			Error:      c.errMsg,
			StartedAt:  TimeString(c.startedAt),
			FinishedAt: TimeString(c.finishedAt),
		},
		Image:          c.image.ID,
		ResolvConfPath: c.resolvPath,
		HostnamePath:   c.hostnamePath,
		HostsPath:      c.hostsPath,
		LogPath:        c.logPath(),
		Name:           "/" + c.Name,
		Driver:         "nslab",
		Platform:       "linux",
		ExecIDs:        d.runningExecs(c),
		HostConfig:     &hc,
		GraphDriver:    d.graphDriver(c),
		Mounts:         mountsView(c),
		Config:         &cfg,
		NetworkSettings: &types.NetworkSettings{
			Ports:    d.publishedPorts(c),
			Networks: cloneNetworks(c.networks),
		},
	}
	j.HostConfig.Links = linksView(c)
	// The last sandbox stays shown after the container stopped, as Docker's;
	// a container:NAME container has no sandbox of its own: both fields empty.
	if c.sandbox.Kind != netimpl.SandboxShared {
		j.NetworkSettings.SandboxID = c.sandbox.ID
		j.NetworkSettings.SandboxKey = c.sandbox.Key
	}
	if c.run != nil {
		j.State.Pid = c.run.pid
	}
	// The top-level fields describe the default bridge network only.
	if b, ok := c.networks["bridge"]; ok {
		ns := j.NetworkSettings
		ns.EndpointID, ns.Gateway, ns.IPAddress, ns.IPPrefixLen, ns.MacAddress = b.EndpointID, b.Gateway, b.IPAddress, b.IPPrefixLen, b.MacAddress
	}
	return j
}

// summary renders one entry of GET /containers/json; resolve is a
// snapshot of the host's tags (imageResolver). Callers hold d.mu.
func (d *Daemon) summary(c *Container, resolve func(string) (string, bool)) types.ContainerSummary {
	argv := c.argv()
	s := types.ContainerSummary{
		ID:      c.ID,
		Names:   []string{"/" + c.Name},
		Image:   containerImage(c, resolve),
		ImageID: c.image.ID,
		Command: listCommand(argv),
		Created: c.Created.Unix(),
		Ports:   summaryPorts(d.publishedPorts(c)),
		Labels:  c.Config.Labels,
		State:   c.state,
		Status:  statusText(c),
		Mounts:  mountsView(c),
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = c.HostConfig.NetworkMode
	s.NetworkSettings.Networks = summaryNetworks(c.networks)
	return s
}

// listCommand is the COMMAND of `docker ps`, as Docker's list writes it:
// the path, then each argument, in single quotes when it holds a space
// (nothing escaped).
func listCommand(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if i > 0 && strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

// summaryNetworks are a container's networks as Docker's list shows them:
// addresses, ids and IPAM configuration, without aliases, links or driver
// options. Callers hold d.mu.
func summaryNetworks(in map[string]*types.EndpointSettings) map[string]*types.EndpointSettings {
	out := make(map[string]*types.EndpointSettings, len(in))
	for k, v := range in {
		out[k] = &types.EndpointSettings{
			IPAMConfig: v.IPAMConfig, NetworkID: v.NetworkID, EndpointID: v.EndpointID, Gateway: v.Gateway,
			IPAddress: v.IPAddress, IPPrefixLen: v.IPPrefixLen, IPv6Gateway: v.IPv6Gateway,
			GlobalIPv6Address: v.GlobalIPv6Address, GlobalIPv6PrefixLen: v.GlobalIPv6PrefixLen, MacAddress: v.MacAddress,
		}
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

// graphDriver is inspect's GraphDriver in the shape of Docker's overlay2:
// the lower directories (the init layer, then the image's, topmost first),
// the upper and work directories and the mount point of the container's
// root filesystem.
func (d *Daemon) graphDriver(c *Container) types.GraphDriver {
	lower := d.layers(c)
	slices.Reverse(lower)
	return types.GraphDriver{Name: "nslab", Data: map[string]string{
		"LowerDir": strings.Join(lower, ":"), "UpperDir": c.upperDir(), "WorkDir": c.workDirFS(), "MergedDir": c.rootDir(),
	}}
}

// TimeString formats a time as Docker's JSON does; the zero time is
// Docker's "0001-01-01T00:00:00Z".
func TimeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// List is GET /containers/json: the containers the filters select, newest
// first, as Docker's ps shows them; without all (or a limit), the running
// ones. The caller checked the filters' keys and the status values.
func (d *Daemon) List(f filters.Args, all bool, limit *int) []types.ContainerSummary {
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
	out := []types.ContainerSummary{}
	for _, c := range list {
		if !all && c.state != StateRunning && (limit == nil || *limit <= 0) {
			continue
		}
		if !f.Match("name", "/"+c.Name) || !f.Match("id", c.ID) || !f.Exact("status", c.state) ||
			!f.MatchLabels(c.Config.Labels) || (f.Has("ancestor") && !ancestors[c.image.ID]) {
			continue
		}
		if f.Has("exited") && (c.state != StateExited || !f[("exited")][strconv.Itoa(c.exitCode)]) {
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
	return out
}

// Inspect is GET /containers/{id}/json: the container as Docker's inspect
// shows it.
func (d *Daemon) Inspect(ref string) (types.ContainerJSON, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup(ref)
	if err != nil {
		return types.ContainerJSON{}, err
	}
	return d.inspect(c), nil
}
