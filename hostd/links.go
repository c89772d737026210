package hostd

import (
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/bridge"
	"github.com/nslab/nslab/netimpl/firewall"
)

// resolvedLinks are a starting container's --link targets as Docker
// resolves them on the default bridge: /etc/hosts lines, environment
// variables and, without ICC, firewall rules.
type resolvedLinks struct {
	hosts []hostsEntry
	env   []string
	rules []firewall.Link
	fwOn  bool // rules were written
}

// resolveLinks reads HostConfig.Links ("name:alias" or "name") against the
// running containers. A target that does not run fails the start, as in
// Docker. The result is kept for setupNetwork and netUp.
func (d *Daemon) resolveLinks(c *Container) error {
	if len(c.HostConfig.Links) == 0 {
		return nil
	}
	var rl resolvedLinks
	d.mu.Lock()
	for _, l := range c.HostConfig.Links {
		name, alias, ok := strings.Cut(l, ":")
		name = strings.TrimPrefix(name, "/")
		if !ok {
			alias = name
		}
		alias = alias[strings.LastIndex(alias, "/")+1:]
		child, err := d.lookup(name)
		if err != nil {
			d.mu.Unlock()
			return errorf(http.StatusNotFound, "Could not get container for %s", name)
		}
		es := child.networks["bridge"]
		if child.state != stateRunning || es == nil || es.IPAddress == "" {
			d.mu.Unlock()
			return errorf(http.StatusInternalServerError, "Cannot link to a non running container: /%s AS /%s/%s", child.Name, c.Name, alias)
		}
		names := []string{alias, child.Config.Hostname}
		if alias != child.Name {
			names = append(names, child.Name)
		}
		rl.hosts = append(rl.hosts, hostsEntry{IP: es.IPAddress, Names: names})
		rl.env = append(rl.env, linkEnv(c.Name, alias, es.IPAddress, child)...)
		if to, err := netip.ParseAddr(es.IPAddress); err == nil {
			rl.rules = append(rl.rules, firewall.Link{To: to, Ports: exposedPorts(child)})
		}
	}
	d.mu.Unlock()
	d.svc.mu.Lock()
	d.svc.init()
	d.svc.links[c.ID] = rl
	d.svc.mu.Unlock()
	return nil
}

// exposedPorts lists a container's exposed ports, sorted as Docker sorts
// them for link variables (by number, then protocol).
func exposedPorts(c *Container) []firewall.PortProto {
	var ps []firewall.PortProto
	for k := range c.Config.ExposedPorts {
		proto, lo, hi, err := parsePortKey(k)
		if err != nil {
			continue
		}
		for p := lo; ; p++ {
			ps = append(ps, firewall.PortProto{Proto: proto, Port: p})
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

// linkHosts are the /etc/hosts lines of c's links.
func (d *Daemon) linkHosts(c *Container) []hostsEntry {
	d.svc.mu.Lock()
	defer d.svc.mu.Unlock()
	d.svc.init()
	return d.svc.links[c.ID].hosts
}

// linkEnv are the link variables of c's running links, which Docker puts
// after PATH, HOSTNAME and TERM, before the container's own environment.
func (d *Daemon) linkEnv(c *Container) []string {
	d.svc.mu.Lock()
	defer d.svc.mu.Unlock()
	d.svc.init()
	return d.svc.links[c.ID].env
}

// addLinkRules writes the link ACCEPT pairs when the default bridge has
// enable_icc=false (without them the containers could not talk at all).
func (d *Daemon) addLinkRules(c *Container, eps []netimpl.Endpoint) error {
	d.svc.mu.Lock()
	rl, ok := d.svc.links[c.ID]
	d.svc.mu.Unlock()
	if !ok || len(rl.rules) == 0 {
		return nil
	}
	n, err := d.eng.Network("bridge")
	if err != nil || n.Options[bridge.OptICC] != "false" {
		return nil
	}
	var from netip.Addr
	for _, ep := range eps {
		if ep.NetworkID == n.ID && ep.Addr != nil {
			from, _ = netip.AddrFromSlice(ep.Addr.IP.To4())
		}
	}
	if !from.IsValid() {
		return nil
	}
	var made []firewall.Link
	for _, r := range rl.rules {
		if len(r.Ports) == 0 {
			continue
		}
		r.Bridge, r.From = bridgeName(n), from
		if err := d.firewall.AddLink(r); err != nil {
			for _, m := range made {
				d.firewall.RemoveLink(m)
			}
			return fmt.Errorf("container %s: link rules: %w", c.Name, err)
		}
		made = append(made, r)
	}
	rl.rules, rl.fwOn = made, true
	d.svc.mu.Lock()
	d.svc.links[c.ID] = rl
	d.svc.mu.Unlock()
	return nil
}

// removeLinkRules drops the rules addLinkRules wrote.
func (d *Daemon) removeLinkRules(c *Container) {
	d.svc.mu.Lock()
	rl := d.svc.links[c.ID]
	delete(d.svc.links, c.ID)
	d.svc.mu.Unlock()
	if !rl.fwOn {
		return
	}
	for _, r := range rl.rules {
		if err := d.firewall.RemoveLink(r); err != nil {
			d.log.Printf("container %s: remove link rules: %v", c.Name, err)
		}
	}
}
