package hostd

import (
	"fmt"

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
