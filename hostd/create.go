package hostd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostd/image/merge"
	"github.com/nslab/nslab/hostd/oci"
	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/controller"
	"github.com/nslab/nslab/undo"
)

// Docker's texts for network-mode conflicts (runconfig, all HTTP 400).
const (
	msgConflictContainerNetworkAndLinks = "conflicting options: container type network can't be used with links. This would result in undefined behavior"
	msgConflictHostNetworkAndLinks      = "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
	msgConflictNetworkAndDNS            = "conflicting options: dns and the network mode"
	msgConflictNetworkHostname          = "conflicting options: hostname and the network mode"
	msgConflictContainerNetworkAndMac   = "conflicting options: mac-address and the network mode"
	msgConflictNetworkHosts             = "conflicting options: custom host-to-IP mapping and the network mode"
	msgConflictNetworkPublishPorts      = "conflicting options: port publishing and the container type network mode"
	msgConflictNetworkExposePorts       = "conflicting options: port exposing and the container type network mode"
)

// validateNetMode applies Docker's checks of a network mode against the
// rest of the configuration (runconfig.validateNetContainerMode and friends).
func validateNetMode(cfg *types.ContainerConfig, hc *types.HostConfig) error {
	mode := netMode(hc.NetworkMode)
	target, isContainer := mode.container()
	switch {
	case isContainer && target == "":
		return errdefs.BadRequest("Invalid network mode: invalid container format container:<name|id>")
	case isContainer && cfg.Hostname != "":
		return errdefs.BadRequest(msgConflictNetworkHostname)
	case isContainer && len(hc.Links) > 0:
		return errdefs.BadRequest(msgConflictContainerNetworkAndLinks)
	case isContainer && len(hc.DNS) > 0:
		return errdefs.BadRequest(msgConflictNetworkAndDNS)
	case isContainer && len(hc.ExtraHosts) > 0:
		return errdefs.BadRequest(msgConflictNetworkHosts)
	case (isContainer || mode.isHost()) && cfg.MacAddress != "":
		return errdefs.BadRequest(msgConflictContainerNetworkAndMac)
	case isContainer && (len(hc.PortBindings) > 0 || hc.PublishAllPorts):
		return errdefs.BadRequest(msgConflictNetworkPublishPorts)
	case isContainer && len(cfg.ExposedPorts) > 0:
		return errdefs.BadRequest(msgConflictNetworkExposePorts)
	case mode.isHost() && len(hc.Links) > 0:
		return errdefs.BadRequest(msgConflictHostNetworkAndLinks)
	}
	return nil
}

// imageConfig finds the container's image, as Docker does after checking
// the rest of the request and before reserving the name, and completes
// the container's config with the image's.
func (d *Daemon) imageConfig(cfg *types.ContainerConfig) (*image.Image, error) {
	img, err := d.images.Resolve(cfg.Image)
	if err != nil {
		return nil, err
	}
	if err := merge.ImageConfig(cfg, img.Config.RunConfig()); err != nil {
		return nil, err
	}
	return img, nil
}

// defaultShmSize is Docker's /dev/shm size, 64 MiB.
const defaultShmSize = 64 << 20

// fillHostConfigDefaults sets what Docker's daemon fills in at create
// (adaptContainerSettings) and inspect shows: /dev/shm's size, the IPC
// mode (its default-ipc-mode, private), the cgroup namespace mode (host,
// as dockerd's on a cgroup v1 machine, and what a hostd container has: it
// shares the host's cgroup namespace) and OomKillDisable false.
func fillHostConfigDefaults(hc *types.HostConfig) {
	if hc.ShmSize == 0 {
		hc.ShmSize = defaultShmSize
	}
	if hc.IpcMode == "" {
		hc.IpcMode = "private"
	}
	if hc.CgroupnsMode == "" {
		hc.CgroupnsMode = "host"
	}
	if hc.OomKillDisable == nil {
		off := false
		hc.OomKillDisable = &off
	}
}

// Create validates a create request completely, then registers the
// container and makes its state directory.
func (d *Daemon) Create(name string, req *types.CreateRequest) (*Container, error) {
	name = strings.TrimPrefix(name, "/")
	cfg, hc, err := checkCreate(name, req)
	if err != nil {
		return nil, err
	}
	networks, err := d.createEndpoints(req, &hc)
	if err != nil {
		return nil, err
	}
	img, err := d.imageConfig(&cfg)
	if err != nil {
		return nil, err
	}
	c := d.newContainer(cfg, hc, img, networks)
	if err := d.register(c, name); err != nil {
		return nil, err
	}
	// Its start is likely to follow (docker run is a create and a start):
	// one that will have a namespace of its own gets it made meanwhile.
	if mode := netMode(hc.NetworkMode); !mode.isHost() {
		if _, shared := mode.container(); !shared {
			d.ctl.Prewarm()
		}
	}
	return c, nil
}

// checkCreate applies Docker's checks of a create request that need no
// state (the name's form, an image, the network mode, the stop signal,
// the capabilities) and returns its configuration with the defaults
// Docker fills in before them.
func checkCreate(name string, req *types.CreateRequest) (types.ContainerConfig, types.HostConfig, error) {
	cfg, hc := req.ContainerConfig, types.HostConfig{}
	if name != "" && !validName.MatchString(name) {
		return cfg, hc, errdefs.BadRequest("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if req.Image == "" {
		// Docker makes a container of no image, with nothing to run it
		// from; hostd makes none.
		if len(req.Entrypoint) == 0 && len(req.Cmd) == 0 {
			return cfg, hc, errdefs.BadRequest("No command specified")
		}
		return cfg, hc, errdefs.BadRequest("nslab: hostd creates no container without an image")
	}
	if req.HostConfig != nil {
		hc = *req.HostConfig
	}
	if hc.NetworkMode == "" {
		hc.NetworkMode = "default"
	}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
	}
	if hc.LogConfig.Config == nil {
		hc.LogConfig.Config = map[string]string{}
	}
	if err := validateNetMode(&cfg, &hc); err != nil {
		return cfg, hc, err
	}
	if _, err := proc.ParseSignal(cfg.StopSignal, true); err != nil {
		return cfg, hc, err
	}
	_, err := oci.Capabilities(&hc)
	return cfg, hc, err
}

// createEndpoints checks the endpoint a create request asks for (at most
// one) and returns the container's networks with their settings.
// Networks are looked up when the container starts, as Docker does: a
// create naming a missing network (or the default bridge on a host
// without one) succeeds, and its start fails with "network X not found".
// A 404 from create would make the CLI try to pull the image.
func (d *Daemon) createEndpoints(req *types.CreateRequest, hc *types.HostConfig) (map[string]*types.EndpointSettings, error) {
	var eps map[string]*types.EndpointSettings
	if req.NetworkingConfig != nil {
		eps = req.NetworkingConfig.EndpointsConfig
	}
	if len(eps) > 1 {
		var l []string
		for k := range eps {
			l = append(l, k)
		}
		sort.Strings(l)
		return nil, errdefs.BadRequest("Container cannot be connected to network endpoints: %s", strings.Join(l, ", "))
	}
	mode := netMode(hc.NetworkMode)
	networks := map[string]*types.EndpointSettings{}
	if _, isContainer := mode.container(); isContainer {
		return networks, nil
	}
	if len(eps) == 0 {
		eps = map[string]*types.EndpointSettings{mode.network(): nil}
	}
	for ref, es := range eps {
		if es == nil {
			es = &types.EndpointSettings{}
		}
		// "default" is the daemon's default network (the CLI sends it).
		name := netMode(ref).network()
		// NetworkID stays empty until the container joins the
		// network, as in Docker's inspect of a created container.
		if n, err := d.ctl.Network(name); err == nil {
			name = n.Name
		}
		if err := controller.CheckEndpoint(name, endpointConfig(es)); err != nil {
			return nil, err
		}
		networks[name] = es
	}
	return networks, nil
}

// newContainer is a created container of the checked configuration, with
// its hostname and the defaults Docker fills in at create (inspect shows
// them), before it has a name.
func (d *Daemon) newContainer(cfg types.ContainerConfig, hc types.HostConfig, img *image.Image, networks map[string]*types.EndpointSettings) *Container {
	c := &Container{
		ID:         netimpl.NewID(),
		Created:    time.Now().UTC(),
		Config:     cfg,
		HostConfig: hc,
		image:      img,
		state:      stateCreated,
		networks:   networks,
	}
	mode := netMode(hc.NetworkMode)
	if mode.isHost() {
		if c.Config.Hostname == "" {
			c.Config.Hostname = d.hostname
		}
	} else if _, isContainer := mode.container(); !isContainer && c.Config.Hostname == "" {
		c.Config.Hostname = shortID(c.ID)
	}
	c.dir = filepath.Join(d.cfg.Root, "containers", c.ID)
	c.data = filepath.Join(d.cfg.DataRoot, "containers", c.ID)
	if !hc.Privileged && hc.MaskedPaths == nil {
		c.HostConfig.MaskedPaths = slices.Clone(rootfs.DefaultMaskedPaths)
		c.HostConfig.ReadonlyPaths = slices.Clone(rootfs.DefaultReadonlyPaths)
	}
	fillHostConfigDefaults(&c.HostConfig)
	return c
}

// register gives c its name (a random one when none was asked for), its
// mounts with the volumes they name, its state directory, writable layer
// and streams, and adds it to the daemon; each step is undone when a later
// one fails.
func (d *Daemon) register(c *Container, name string) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return errdefs.Errorf(503, "hostd %s is shutting down", d.cfg.Host)
	}
	if name == "" {
		for i := 0; ; i++ {
			if name = randomName(i); d.names[name] == "" {
				break
			}
		}
	}
	if id, taken := d.names[name]; taken {
		return errdefs.Conflict("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, id)
	}
	c.Name = name
	mounts, err := d.mountPoints(&c.Config, &c.HostConfig)
	if err != nil {
		return err
	}
	var u undo.Steps
	defer u.OnError(&err)
	made, err := d.createVolumes(mounts)
	if err != nil {
		return err
	}
	u.Add(func() {
		for _, v := range made {
			d.volumes.Remove(v)
		}
	})
	c.mounts = mounts
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("container %s: %w", name, err)
	}
	u.Add(func() { os.RemoveAll(c.dir) })
	if err := d.makeInitLayer(); err != nil {
		return err
	}
	if err := c.makeLayer(); err != nil {
		return err
	}
	u.Add(func() { os.RemoveAll(c.data) })
	st, err := proc.NewStreams(c.logPath(), c.Config.Tty)
	if err != nil {
		return fmt.Errorf("container %s: %w", name, err)
	}
	c.streams = st
	d.containers[c.ID] = c
	d.names[name] = c.ID
	for _, m := range c.mounts {
		if m.Type == "volume" {
			// dockerd's volume service logs a create for every volume a
			// new container names, whether it made it or not.
			d.VolumeEvent(m.Name, "create", nil)
		}
	}
	d.containerEvent(c, "create", nil)
	return nil
}
