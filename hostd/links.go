package hostd

import (
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/netimpl/controller"
)

// resolveLinks reads HostConfig.Links ("name:alias" or "name") against the
// running containers, as Docker resolves them on the default bridge: the
// targets' /etc/hosts lines and, without ICC, firewall rules are the
// controller's to write (the links returned); the environment variables
// are the container's for as long as it runs. A target that does not run
// fails the start, as in Docker.
func (d *Daemon) resolveLinks(c *Container) ([]controller.Link, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c.linkEnv = nil
	var links []controller.Link
	for _, l := range c.HostConfig.Links {
		name, alias := parseLink(l)
		child, err := d.lookup(name)
		if err != nil {
			return nil, errdefs.Errorf(http.StatusNotFound, "Could not get container for %s", name)
		}
		es := child.networks["bridge"]
		var ip netip.Addr
		if es != nil {
			ip, _ = netip.ParseAddr(es.IPAddress)
		}
		if child.state != StateRunning || !ip.IsValid() {
			return nil, errdefs.Errorf(http.StatusInternalServerError, "Cannot link to a non running container: /%s AS /%s/%s", child.Name, c.Name, alias)
		}
		names := []string{alias, child.Config.Hostname}
		if alias != child.Name {
			names = append(names, child.Name)
		}
		links = append(links, controller.Link{IP: ip, Names: names, Ports: exposedPorts(child)})
		c.linkEnv = append(c.linkEnv, linkEnv(c.Name, alias, es.IPAddress, child)...)
	}
	return links, nil
}

// parseLink reads one --link: "name:alias", "name" (the alias is the
// name), either part possibly in Docker's "/name" and "/container/alias"
// forms.
func parseLink(l string) (name, alias string) {
	name, alias, ok := strings.Cut(l, ":")
	name = strings.TrimPrefix(name, "/")
	if !ok {
		alias = name
	}
	return name, alias[strings.LastIndex(alias, "/")+1:]
}

// exposedPorts lists a container's exposed ports, sorted as Docker sorts
// them for link variables (by number, then protocol).
func exposedPorts(c *Container) []controller.ExposedPort {
	var ps []controller.ExposedPort
	for k := range c.Config.ExposedPorts {
		proto, lo, hi, err := controller.ParsePortKey(k)
		if err != nil {
			continue
		}
		for p := lo; ; p++ {
			ps = append(ps, controller.ExposedPort{Proto: proto, Port: p})
			if p == hi {
				break
			}
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Port != ps[j].Port {
			return ps[i].Port < ps[j].Port
		}
		return ps[i].Proto < ps[j].Proto
	})
	return ps
}

// linkEnv is libnetwork's links.Link.ToEnv for one link: ALIAS_PORT and the
// ALIAS_PORT_<n>_<PROTO>* variables of each exposed port, ALIAS_NAME, and
// ALIAS_ENV_<k> for the target's own environment (PATH and HOME excepted).
func linkEnv(parent, alias, ip string, child *Container) []string {
	prefix := strings.ToUpper(strings.ReplaceAll(alias, "-", "_"))
	var env []string
	ports := exposedPorts(child)
	if len(ports) > 0 {
		env = append(env, fmt.Sprintf("%s_PORT=%s://%s:%d", prefix, ports[0].Proto, ip, ports[0].Port))
	}
	for _, p := range ports {
		base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(p.Proto))
		env = append(env,
			fmt.Sprintf("%s=%s://%s:%d", base, p.Proto, ip, p.Port),
			fmt.Sprintf("%s_ADDR=%s", base, ip),
			fmt.Sprintf("%s_PORT=%d", base, p.Port),
			fmt.Sprintf("%s_PROTO=%s", base, p.Proto))
	}
	env = append(env, fmt.Sprintf("%s_NAME=/%s/%s", prefix, parent, alias))
	for _, kv := range child.Config.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "HOME" || k == "PATH" {
			continue
		}
		env = append(env, fmt.Sprintf("%s_ENV_%s=%s", prefix, k, v))
	}
	return env
}

// linkEnv are the link variables of c's running links, which Docker puts
// after PATH, HOSTNAME and TERM, before the container's own environment.
func (d *Daemon) linkEnv(c *Container) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return c.linkEnv
}
