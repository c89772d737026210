package hostd

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/netimpl/controller"
)

// portRequest is what c asks to publish, as the controller takes it.
func portRequest(c *Container) controller.PortRequest {
	r := controller.PortRequest{PublishAll: c.HostConfig.PublishAllPorts, Bindings: map[string][]controller.PortBinding{}}
	for k := range c.Config.ExposedPorts {
		r.Exposed = append(r.Exposed, k)
	}
	for k, bs := range c.HostConfig.PortBindings {
		// A port bound to nothing is still bound: -P leaves it alone.
		r.Bindings[k] = make([]controller.PortBinding, len(bs))
		for i, b := range bs {
			r.Bindings[k][i] = controller.PortBinding(b)
		}
	}
	return r
}

// publishedPorts is inspect's NetworkSettings.Ports: every exposed or
// published container port, with the host ports made for it (nil when
// only exposed). Empty when the container does not run, and when none of
// its endpoints has external connectivity (network none or host, or only
// internal networks), as Docker's, which reads them from that endpoint.
// Callers hold d.mu.
func (d *Daemon) publishedPorts(c *Container) map[string][]types.PortBinding {
	out := map[string][]types.PortBinding{}
	if c.run == nil {
		return out
	}
	published, external := d.ctl.PublishedPorts(c.ID)
	if !external {
		return out
	}
	for p := range c.Config.ExposedPorts {
		out[controller.NormalPort(p)] = nil
	}
	for p := range c.HostConfig.PortBindings {
		out[controller.NormalPort(p)] = nil
	}
	for _, p := range published {
		k := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		out[k] = append(out[k], types.PortBinding{HostIP: p.HostIP.String(), HostPort: fmt.Sprint(p.HostPort)})
	}
	return out
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
