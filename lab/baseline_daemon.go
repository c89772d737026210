package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// daemonTimeout bounds one daemon's part of a read or a reset.
const daemonTimeout = 30 * time.Second

// daemonState is what a docker host's daemon reports: its containers,
// networks, volumes and images.
type daemonState struct {
	Containers []containerState `json:"containers"`
	Networks   []networkState   `json:"networks"`
	Volumes    []string         `json:"volumes"`
	Images     []imageState     `json:"images"`
	// Tunnels are hostd's GRE tunnels (nslab gre), by name.
	Tunnels []string `json:"tunnels,omitempty"`
}

type containerState struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Image   string `json:"image"`
	Running bool   `json:"running"`
}

type networkState struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Driver  string   `json:"driver"`
	Scope   string   `json:"scope"`
	Subnets []string `json:"subnets"`
}

type imageState struct {
	ID   string   `json:"id"`
	Tags []string `json:"tags"`
}

// readDaemon asks the host's daemon what it has, all questions at once.
func (h *Host) readDaemon(ctx context.Context) (*daemonState, error) {
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	defer cancel()
	c, err := h.DockerClient()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	d := &daemonState{}
	var (
		wg   sync.WaitGroup
		errs [5]error
	)
	wg.Go(func() { d.Containers, errs[0] = containers(ctx, c) })
	wg.Go(func() { d.Networks, errs[1] = networks(ctx, c) })
	wg.Go(func() { d.Volumes, errs[2] = volumes(ctx, c) })
	wg.Go(func() { d.Images, errs[3] = images(ctx, c) })
	wg.Go(func() { d.Tunnels, errs[4] = h.tunnels(ctx) })
	wg.Wait()
	for i, what := range []string{"containers", "networks", "volumes", "images", "gre tunnels"} {
		if errs[i] != nil {
			return nil, fmt.Errorf("host %s: %s: %w", h.Name, what, errs[i])
		}
	}
	return d, nil
}

func containers(ctx context.Context, c *client.Client) ([]containerState, error) {
	cs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, err
	}
	var out []containerState
	for _, ct := range cs.Items {
		name := ""
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/")
		}
		out = append(out, containerState{ID: ct.ID, Name: name, Image: ct.Image, Running: ct.State == "running"})
	}
	return out, nil
}

func networks(ctx context.Context, c *client.Client) ([]networkState, error) {
	ns, err := c.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, err
	}
	var out []networkState
	for _, n := range ns.Items {
		s := networkState{ID: n.ID, Name: n.Name, Driver: n.Driver, Scope: n.Scope}
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() {
				s.Subnets = append(s.Subnets, c.Subnet.String())
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func images(ctx context.Context, c *client.Client) ([]imageState, error) {
	is, err := c.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return nil, err
	}
	var out []imageState
	for _, i := range is.Items {
		tags := slices.Clone(i.RepoTags)
		slices.Sort(tags)
		out = append(out, imageState{ID: i.ID, Tags: tags})
	}
	return out, nil
}

// hostdAPI sends a request to hostd's own /nslab/ endpoints on the host's
// socket.
func (h *Host) hostdAPI(ctx context.Context, method, path string) (*http.Response, error) {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", h.socket)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, method, "http://hostd/v"+APIVersion+path, nil)
	if err != nil {
		return nil, err
	}
	return hc.Do(req)
}

// tunnels lists hostd's GRE tunnels (dockerd has none).
func (h *Host) tunnels(ctx context.Context) ([]string, error) {
	if h.lab.Runtime() != RuntimeHostd {
		return nil, nil
	}
	resp, err := h.hostdAPI(ctx, http.MethodGet, "/nslab/gre")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ts []struct{ Name string }
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		return nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	slices.Sort(out)
	return out, nil
}

// removeTunnels deletes hostd's GRE tunnels base lacks.
func (h *Host) removeTunnels(ctx context.Context, now, base []string) []error {
	var errs []error
	for _, t := range now {
		if slices.Contains(base, t) {
			continue
		}
		resp, err := h.hostdAPI(ctx, http.MethodDelete, "/nslab/gre/"+url.PathEscape(t))
		if err != nil {
			errs = append(errs, fmt.Errorf("gre %s: %w", t, err))
			continue
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
			errs = append(errs, fmt.Errorf("gre %s: delete: %s", t, resp.Status))
		}
	}
	return errs
}

// volumes lists the daemon's volumes; a daemon without the volume API
// (hostd before it had volumes answers 404) has none.
func volumes(ctx context.Context, c *client.Client) ([]string, error) {
	vs, err := c.VolumeList(ctx, client.VolumeListOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vs.Items {
		out = append(out, v.Name)
	}
	slices.Sort(out)
	return out, nil
}

// facts are the daemon's state as lines. A container is compared by name,
// image and whether it runs (Reset makes a topology's container again
// when it must, with a new id); a network by everything it has.
func (d *daemonState) facts() []string {
	var out []string
	for _, c := range d.Containers {
		out = append(out, fmt.Sprintf("container %s image=%s running=%v", c.Name, c.Image, c.Running))
	}
	for _, n := range d.Networks {
		out = append(out, fmt.Sprintf("network %s id=%s driver=%s scope=%s subnets=%s", n.Name, n.ID, n.Driver, n.Scope, strings.Join(n.Subnets, ",")))
	}
	for _, v := range d.Volumes {
		out = append(out, "volume "+v)
	}
	for _, i := range d.Images {
		out = append(out, fmt.Sprintf("image %s tags=%s", i.ID, strings.Join(i.Tags, ",")))
	}
	for _, t := range d.Tunnels {
		out = append(out, "gre tunnel "+t)
	}
	slices.Sort(out)
	return out
}

// resetDaemons removes what the daemons have beyond base, in three
// steps each taken on every host at once before the next: containers
// (with their anonymous volumes), then networks, then volumes and images,
// and the topology's containers that are gone, stopped or were replaced
// are made again (a hostd has removed its containers and local networks
// itself, POST /nslab/reset: those two steps are left out). A global network is removed on every host that lists
// it, once no host has a container on it: the first removal takes it out
// of the store, the others out of their daemons, so no host waits for its
// watch.
func (l *Lab) resetDaemons(ctx context.Context, base map[string]*daemonState) error {
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	defer cancel()
	steps := []daemonStep{
		func(ctx context.Context, _ *Host, c *client.Client, now, base *daemonState) []error {
			return removeContainers(ctx, c, now.Containers, base.Containers)
		},
		func(ctx context.Context, _ *Host, c *client.Client, now, base *daemonState) []error {
			return removeNetworks(ctx, c, now, base)
		},
		func(ctx context.Context, h *Host, c *client.Client, now, base *daemonState) []error {
			errs := removeVolumes(ctx, c, now.Volumes, base.Volumes)
			errs = append(errs, resetImages(ctx, c, now.Images, base.Images)...)
			return append(errs, h.removeTunnels(ctx, now.Tunnels, base.Tunnels)...)
		},
		func(ctx context.Context, h *Host, c *client.Client, _, base *daemonState) []error {
			return h.remakeContainers(ctx, c, base.Containers)
		},
	}
	hosts := l.dockerHosts()
	for i, step := range steps {
		if i < 2 && l.Runtime() == RuntimeHostd {
			continue // hostd removed its containers and local networks itself
		}
		if i == 2 {
			// Networks of the cluster store, once no host has a container
			// on them: removed from the store once, then from each host.
			for _, h := range hosts {
				if err := h.runDaemonStep(ctx, base[h.Name], removeGlobalNetworks); err != nil {
					return err
				}
			}
		}
		var (
			mu   sync.Mutex
			errs []error
		)
		forEach(ctx, hosts, len(hosts), func(ctx context.Context, h *Host) error {
			err := h.runDaemonStep(ctx, base[h.Name], step)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return nil
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// daemonStep is one step of resetDaemons on one host: what it does with
// the daemon's client, given what the daemon has now and had at up.
type daemonStep func(ctx context.Context, h *Host, c *client.Client, now, base *daemonState) []error

// runDaemonStep reads the host's daemon and runs step on what it has now.
func (h *Host) runDaemonStep(ctx context.Context, base *daemonState, step daemonStep) error {
	if base == nil {
		return fmt.Errorf("host %s: no baseline of its daemon", h.Name)
	}
	c, err := h.DockerClient()
	if err != nil {
		return err
	}
	defer c.Close()
	now, err := h.readDaemon(ctx)
	if err != nil {
		return err
	}
	if err := errors.Join(step(ctx, h, c, now, base)...); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

// removeNetworks removes the daemon's local networks base lacks.
func removeNetworks(ctx context.Context, c *client.Client, now, base *daemonState) []error {
	return removeNetworksOf(ctx, c, now, base, "local")
}

// removeGlobalNetworks removes the daemon's networks of the cluster store
// base lacks; one another host removed already is not found.
func removeGlobalNetworks(ctx context.Context, _ *Host, c *client.Client, now, base *daemonState) []error {
	return removeNetworksOf(ctx, c, now, base, "global")
}

func removeNetworksOf(ctx context.Context, c *client.Client, now, base *daemonState, scope string) []error {
	var errs []error
	for _, n := range now.Networks {
		if (n.Scope == "global") != (scope == "global") {
			continue
		}
		if !slices.ContainsFunc(base.Networks, func(b networkState) bool { return b.ID == n.ID }) {
			if _, err := c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			}
		}
	}
	return errs
}

func removeVolumes(ctx context.Context, c *client.Client, now, base []string) []error {
	var errs []error
	for _, v := range now {
		if !slices.Contains(base, v) {
			if _, err := c.VolumeRemove(ctx, v, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", v, err))
			}
		}
	}
	return errs
}

// removeContainers removes, all at once, every container of now that
// base does not have as it is (same id, and running if it ran).
func removeContainers(ctx context.Context, c *client.Client, now, base []containerState) []error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, ct := range now {
		if slices.Contains(base, ct) {
			continue
		}
		wg.Go(func() {
			_, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("remove container %s: %w", ct.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// resetImages removes the images base does not have and the tags it does
// not give them, and gives back the tags of base's images that went while
// the image stayed. An image of base that is gone altogether cannot come
// back here: the comparison after the reset says so.
func resetImages(ctx context.Context, c *client.Client, now, base []imageState) []error {
	var errs []error
	for _, i := range now {
		j := slices.IndexFunc(base, func(b imageState) bool { return b.ID == i.ID })
		if j < 0 {
			if _, err := c.ImageRemove(ctx, i.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove image %.19s: %w", i.ID, err))
			}
			continue
		}
		for _, t := range i.Tags {
			if !slices.Contains(base[j].Tags, t) {
				if _, err := c.ImageRemove(ctx, t, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("untag %s: %w", t, err))
				}
			}
		}
		for _, t := range base[j].Tags {
			if !slices.Contains(i.Tags, t) {
				if _, err := c.ImageTag(ctx, client.ImageTagOptions{Source: i.ID, Target: t}); err != nil {
					errs = append(errs, fmt.Errorf("tag %s: %w", t, err))
				}
			}
		}
	}
	return errs
}

// remakeContainers makes the topology's containers that base had and
// the daemon no longer has as they were, in the order Up made them.
func (h *Host) remakeContainers(ctx context.Context, c *client.Client, base []containerState) []error {
	now, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return []error{fmt.Errorf("containers: %w", err)}
	}
	have := map[string]bool{}
	for _, ct := range now.Items {
		for _, n := range ct.Names {
			have[strings.TrimPrefix(n, "/")] = true
		}
	}
	var errs []error
	for _, spec := range containerOrder(h.Spec.Containers) {
		if have[spec.Name] || !slices.ContainsFunc(base, func(b containerState) bool { return b.Name == spec.Name }) {
			continue
		}
		if err := createContainer(ctx, c, spec); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", spec.Name, err))
		}
	}
	return errs
}
