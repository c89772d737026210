package api

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd"
	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/filters"
	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/netimpl/controller"
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

// statusText is the STATUS column of `docker ps`.
func statusText(v *hostd.ContainerView) string {
	switch v.State {
	case hostd.StateRunning:
		return "Up " + humanDuration(time.Since(v.StartedAt))
	case hostd.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", v.ExitCode, humanDuration(time.Since(v.FinishedAt)))
	case "removing":
		return "Removal In Progress"
	}
	return "Created"
}

// inspect renders GET /containers/{id}/json.
func inspect(v *hostd.ContainerView) types.ContainerJSON {
	cfg, hc := v.Config, v.HostConfig
	j := types.ContainerJSON{
		ID:      v.ID,
		Created: timeString(v.Created),
		Path:    v.Argv[0],
		Args:    append([]string{}, v.Argv[1:]...),
		State: types.ContainerState{
			Status:     v.State,
			Running:    v.State == hostd.StateRunning,
			ExitCode:   v.ExitCode,
			Error:      v.Error,
			Pid:        v.Pid,
			StartedAt:  timeString(v.StartedAt),
			FinishedAt: timeString(v.FinishedAt),
		},
		Image:          v.ImageID,
		ResolvConfPath: v.ResolvConfPath,
		HostnamePath:   v.HostnamePath,
		HostsPath:      v.HostsPath,
		LogPath:        v.LogPath,
		Name:           "/" + v.Name,
		Driver:         "nslab",
		Platform:       "linux",
		ExecIDs:        v.ExecIDs,
		HostConfig:     &hc,
		GraphDriver:    graphDriver(v),
		Mounts:         v.Mounts,
		Config:         &cfg,
		NetworkSettings: &types.NetworkSettings{
			Ports:      v.Ports,
			Networks:   v.Networks,
			SandboxID:  v.SandboxID,
			SandboxKey: v.SandboxKey,
		},
	}
	j.HostConfig.Links = v.Links
	// The top-level fields describe the default bridge network only.
	if b, ok := v.Networks["bridge"]; ok {
		ns := j.NetworkSettings
		ns.EndpointID, ns.Gateway, ns.IPAddress, ns.IPPrefixLen, ns.MacAddress = b.EndpointID, b.Gateway, b.IPAddress, b.IPPrefixLen, b.MacAddress
	}
	return j
}

// graphDriver is inspect's GraphDriver in the shape of Docker's overlay2:
// the lower directories (the init layer, then the image's, topmost first),
// the upper and work directories and the mount point of the container's
// root filesystem.
func graphDriver(v *hostd.ContainerView) types.GraphDriver {
	return types.GraphDriver{Name: "nslab", Data: map[string]string{
		"LowerDir": strings.Join(v.Lower, ":"), "UpperDir": v.Upper, "WorkDir": v.Work, "MergedDir": v.Merged,
	}}
}

// summary renders one entry of GET /containers/json; resolve is a
// snapshot of the host's tags (imageResolver).
func summary(v *hostd.ContainerView, resolve func(string) (string, bool)) types.ContainerSummary {
	s := types.ContainerSummary{
		ID:      v.ID,
		Names:   []string{"/" + v.Name},
		Image:   containerImage(v, resolve),
		ImageID: v.ImageID,
		Command: listCommand(v.Argv),
		Created: v.Created.Unix(),
		Ports:   summaryPorts(v.Ports),
		Labels:  v.Config.Labels,
		State:   v.State,
		Status:  statusText(v),
		Mounts:  v.Mounts,
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = v.HostConfig.NetworkMode
	s.NetworkSettings.Networks = summaryNetworks(v.Networks)
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

// timeString formats a time as Docker's JSON does; the zero time is
// Docker's "0001-01-01T00:00:00Z".
func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// list is GET /containers/json: the containers the filters select, newest
// first, as Docker's ps shows them; without all (or a limit), the running
// ones. The caller checked the filters' keys and the status values.
func (s *server) list(f filters.Args, all bool, limit *int) []types.ContainerSummary {
	// Before the daemon's lock: the repository's is taken before it, never
	// under it.
	resolve := imageResolver(s.d.Images())
	ancestors := ancestorIDs(s.d.Images(), f.Values("ancestor"))
	out := []types.ContainerSummary{}
	for _, v := range s.d.ContainerViews() {
		if !all && v.State != hostd.StateRunning && (limit == nil || *limit <= 0) {
			continue
		}
		if !selected(f, &v, ancestors) {
			continue
		}
		out = append(out, summary(&v, resolve))
		if limit != nil && *limit > 0 && len(out) >= *limit {
			break
		}
	}
	return out
}

// selected says whether the container list's filters select v.
func selected(f filters.Args, v *hostd.ContainerView, ancestors map[string]bool) bool {
	if !f.Match("name", "/"+v.Name) || !f.Match("id", v.ID) || !f.Exact("status", v.State) ||
		!f.MatchLabels(v.Config.Labels) || (f.Has("ancestor") && !ancestors[v.ImageID]) {
		return false
	}
	if f.Has("exited") && (v.State != hostd.StateExited || !f["exited"][strconv.Itoa(v.ExitCode)]) {
		return false
	}
	if f.Has("network") {
		for name, es := range v.Networks {
			if f["network"][name] || f["network"][es.NetworkID] {
				return true
			}
		}
		return false
	}
	return true
}

// containerImage is what `docker ps` shows in IMAGE: the reference the
// container was created with while it still names the same image, else
// the image's ID (Docker's refreshImage). tags is a snapshot of the
// host's references, so that no lock of the repository is taken under
// the daemon's.
func containerImage(v *hostd.ContainerView, resolve func(string) (string, bool)) string {
	ref := v.Config.Image
	if v.ImageID == "" {
		return ref
	}
	if ref == v.ImageID || strings.HasPrefix(v.ImageID, "sha256:"+strings.TrimPrefix(ref, "sha256:")) {
		return ref // the image's ID, or a prefix of it
	}
	if id, ok := resolve(ref); !ok || id != v.ImageID {
		return v.ImageID
	}
	return ref
}

// ancestorIDs resolves the ancestor filter's images to their IDs; an
// image that is not there matches nothing, as in Docker.
func ancestorIDs(images *image.Repository, refs []string) map[string]bool {
	ids := map[string]bool{}
	for _, ref := range refs {
		if img, err := images.Resolve(ref); err == nil {
			ids[img.ID] = true
		}
	}
	return ids
}

// imageResolver is a lock-free snapshot of the repository's lookups, for
// use under the daemon's lock.
func imageResolver(images *image.Repository) func(string) (string, bool) {
	entries := images.List()
	byRef := map[string]string{}
	for _, e := range entries {
		for _, t := range e.Tags {
			byRef[t] = e.Image.ID
		}
	}
	return func(ref string) (string, bool) {
		named, err := image.ParseNamed(ref)
		if err != nil {
			return "", false
		}
		id, ok := byRef[named.WithDefaultTag().Familiar()]
		return id, ok
	}
}

// summaryPorts lists inspect's Ports as /containers/json does, which the
// docker CLI's PORTS column reads ("0.0.0.0:80->80/tcp"): one entry per
// host binding, one without a public port for a port only exposed.
func summaryPorts(ports map[string][]types.PortBinding) []types.SummaryPort {
	out := []types.SummaryPort{}
	for k, bs := range ports {
		proto, p, _, err := controller.ParsePortKey(k)
		if err != nil {
			continue
		}
		if len(bs) == 0 {
			out = append(out, types.SummaryPort{PrivatePort: p, Type: proto})
		}
		for _, b := range bs {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				continue
			}
			out = append(out, types.SummaryPort{IP: b.HostIP, PrivatePort: p, PublicPort: uint16(hp), Type: proto})
		}
	}
	// Stable: a port's bindings stay in the order they were made (0.0.0.0,
	// then ::).
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.PublicPort < b.PublicPort
	})
	return out
}
