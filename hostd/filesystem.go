package hostd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/nslab/nslab/hostd/mount"
	"github.com/nslab/nslab/hostd/oci"
	"github.com/nslab/nslab/hostd/rootfs"
)

// A container's writable layer lives in <DataRoot>/containers/<id>/: the
// overlay's upper and work directories, and the empty directory its root
// filesystem is mounted on (in the container's mount namespace only).

func (c *Container) upperDir() string  { return filepath.Join(c.data, "upper") }
func (c *Container) workDirFS() string { return filepath.Join(c.data, "work") }
func (c *Container) rootDir() string   { return filepath.Join(c.data, "rootfs") }

// makeLayer makes the container's writable layer.
func (c *Container) makeLayer() error {
	// The upper directory's root is the container's /: 0755, as Docker's
	// overlay2 makes it.
	for _, d := range []string{c.upperDir(), c.workDirFS(), c.rootDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("container %s: writable layer: %w", c.Name, err)
		}
	}
	return nil
}

// makeInitLayer makes the host's init layer, once. Callers hold d.mu.
func (d *Daemon) makeInitLayer() error {
	if d.initLayerMade {
		return nil
	}
	err := os.MkdirAll(filepath.Dir(d.initLayer), 0o755)
	if err == nil {
		err = rootfs.InitLayer(d.initLayer)
	}
	if err != nil {
		return fmt.Errorf("init layer %s: %w", d.initLayer, err)
	}
	d.initLayerMade = true
	return nil
}

// layers are the container's lower directories, lowest first: the image's
// layers, then the host's init layer (mount points, /.dockerenv).
func (d *Daemon) layers(c *Container) []string {
	return append(slices.Clone(c.image.Layers), d.initLayer)
}

// containerSpec describes the container's filesystem and command to the
// thread that builds the one and starts the other (spawn).
func (d *Daemon) containerSpec(c *Container, ns netSetup) (*rootfs.Spec, error) {
	hc := &c.HostConfig
	caps, err := oci.Capabilities(hc)
	if err != nil {
		return nil, err
	}
	if err := oci.CheckSysctls(hc); err != nil {
		return nil, err
	}
	s := &rootfs.Spec{
		Root: c.rootDir(), Layers: d.layers(c), Upper: c.upperDir(), Work: c.workDirFS(),
		ReadOnly: hc.ReadonlyRootfs, Privileged: hc.Privileged,
		Hostname: ns.hostname, ShmSize: hc.ShmSize, Tty: c.Config.Tty,
		MaskedPaths: hc.MaskedPaths, ReadonlyPaths: hc.ReadonlyPaths,
		Process: rootfs.Process{
			Args: c.argv(), Env: d.processEnv(c, c.Config.Tty), Cwd: c.workDir(),
			User: c.Config.User, GroupAdd: hc.GroupAdd, Caps: caps,
		},
	}
	for k, v := range hc.Sysctls {
		s.Sysctls = append(s.Sysctls, k+"="+v)
	}
	sort.Strings(s.Sysctls)
	d.mu.Lock()
	mounts := c.mounts
	d.mu.Unlock()
	s.Mounts = d.containerMounts(c, mounts, ns)
	return s, nil
}

// containerMounts are the container's mounts as its start makes them:
// its volumes, binds and tmpfs, and the hosts, resolv.conf and hostname
// files of its network (ns; for a stopped container the last start's),
// unless it mounts one of those itself, ordered as Docker orders them.
func (d *Daemon) containerMounts(c *Container, mounts []*mount.Point, ns netSetup) []rootfs.Mount {
	all := slices.Clone(mounts)
	files := []struct{ src, dst string }{
		{ns.hosts, "/etc/hosts"}, {ns.resolv, "/etc/resolv.conf"}, {ns.hostFile, "/etc/hostname"},
	}
	if ns.hosts == "" {
		d.mu.Lock()
		files[0].src, files[1].src, files[2].src = c.hostsPath, c.resolvPath, c.hostnamePath
		d.mu.Unlock()
	}
	for _, f := range files {
		own := slices.ContainsFunc(mounts, func(m *mount.Point) bool { return m.Destination == f.dst })
		if f.src != "" && !own {
			// With --read-only, Docker mounts them read-only too.
			all = append(all, &mount.Point{Type: "bind", Source: f.src, Destination: f.dst, RW: !c.HostConfig.ReadonlyRootfs})
		}
	}
	mount.Sort(all)
	out := make([]rootfs.Mount, 0, len(all))
	for _, m := range all {
		rm := rootfs.Mount{Kind: rootfs.Bind, Source: m.Source, Target: m.Destination, ReadOnly: !m.RW}
		if m.Type == "tmpfs" {
			rm.Kind, rm.Source, rm.Options = rootfs.Tmpfs, "", m.Options
		}
		out = append(out, rm)
	}
	return out
}
