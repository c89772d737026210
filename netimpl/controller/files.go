package controller

import (
	"fmt"
	"os"
	"strings"
)

// The files a container sees over /etc/hosts, /etc/resolv.conf and
// /etc/hostname live where its daemon keeps its state, like Docker's
// /var/lib/docker/containers/<id>/{hosts,resolv.conf,hostname}; the
// controller writes them as libnetwork's sandbox writes hosts and
// resolv.conf, and keeps /etc/hosts up to date as networks come and go.

// hostsDefaults are the lines Docker writes first in every /etc/hosts.
var hostsDefaults = []string{
	"127.0.0.1\tlocalhost",
	"::1\tlocalhost ip6-localhost ip6-loopback",
	"fe00::0\tip6-localnet",
	"ff00::0\tip6-mcastprefix",
	"ff02::1\tip6-allnodes",
	"ff02::2\tip6-allrouters",
}

// hostsEntry is one extra line: an address and its names.
type hostsEntry struct {
	IP    string
	Names []string
}

// hostsFile renders /etc/hosts as Docker does: the defaults, the extra
// hosts, then one line per container address naming the container.
func hostsFile(extra, own []hostsEntry) string {
	var b strings.Builder
	for _, l := range hostsDefaults {
		b.WriteString(l + "\n")
	}
	for _, set := range [][]hostsEntry{extra, own} {
		for _, e := range set {
			fmt.Fprintf(&b, "%s\t%s\n", e.IP, strings.Join(e.Names, " "))
		}
	}
	return b.String()
}

// resolvConf renders /etc/resolv.conf from the resolvers, search domains
// and options. Without resolvers it says why instead of falling back to
// the machine's resolver, which is outside the lab.
func resolvConf(servers, search, options []string) string {
	var b strings.Builder
	if len(servers) == 0 {
		b.WriteString("# nslab: no resolver configured for this virtual host; nothing outside the lab is ever queried\n")
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

// writeInPlace replaces a file's content without replacing its inode: the
// file may be bind-mounted into a running container, which keeps seeing the
// inode it was given.
func writeInPlace(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyFile copies the machine's file for a host-mode container, as Docker
// copies the host's /etc/hosts and /etc/resolv.conf.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeInPlace(dst, string(b))
}

// addHostsEntry appends a line to a container's /etc/hosts, as libnetwork's
// etchosts.Add does when the container joins a network.
func addHostsEntry(path string, e hostsEntry) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s\t%s\n", e.IP, strings.Join(e.Names, " ")); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// deleteHostsEntries removes the container's own lines from its /etc/hosts
// as Docker 20.10's etchosts.Delete does: it keeps comments, drops empty
// lines, and drops every line that ends in a tab and the names, whatever
// its address. The inode stays (the file is bind-mounted).
func deleteHostsEntries(path string, names []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	suffix := "\t" + strings.Join(names, " ")
	var out strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || (!strings.HasPrefix(l, "#") && strings.HasSuffix(l, suffix)) {
			continue
		}
		out.WriteString(l + "\n")
	}
	return writeInPlace(path, out.String())
}

// writeFiles writes a starting container's hosts, resolv.conf and
// hostname. A host-mode container gets the host's: its /etc/hosts copied
// as Docker copies it, the lab's resolvers (a virtual host's resolv.conf
// is the lab's, never the machine's: nothing in a lab may name a resolver
// outside it, and a dockerd in the same host copies this same file) and
// the host's hostname. Any other container's hosts file is empty until
// its addresses are known (join), but must exist to be bound over
// /etc/hosts.
func (c *Controller) writeFiles(req SandboxRequest) error {
	if req.Host {
		if err := copyFile("/etc/hosts", req.HostsPath); err != nil {
			return fmt.Errorf("container %s: hosts: %w", req.Name, err)
		}
		if err := writeInPlace(req.ResolvConfPath, resolvConf(c.cfg.DNS, nil, nil)); err != nil {
			return fmt.Errorf("container %s: resolv.conf: %w", req.Name, err)
		}
		if err := writeInPlace(req.HostnamePath, c.hostname+"\n"); err != nil {
			return fmt.Errorf("container %s: hostname: %w", req.Name, err)
		}
		return nil
	}
	for _, f := range []struct{ path, content string }{
		{req.HostsPath, ""},
		{req.ResolvConfPath, c.containerResolvConf(req)},
		{req.HostnamePath, req.Hostname + "\n"},
	} {
		if err := writeInPlace(f.path, f.content); err != nil {
			return fmt.Errorf("container %s: %w", req.Name, err)
		}
	}
	return nil
}

// extraHosts are the lines of --add-host ("name:ip") and of the links,
// which Docker writes before the container's own.
func extraHosts(req SandboxRequest) []hostsEntry {
	var extra []hostsEntry
	for _, h := range req.ExtraHosts {
		if name, ip, ok := strings.Cut(h, ":"); ok {
			extra = append(extra, hostsEntry{IP: ip, Names: []string{name}})
		}
	}
	for _, l := range req.Links {
		extra = append(extra, hostsEntry{IP: l.IP.String(), Names: l.Names})
	}
	return extra
}

// hostNames is what Docker writes after the container's address in its
// own /etc/hosts: hostname (with the domain first when there is one).
func hostNames(req SandboxRequest) []string {
	if req.Domainname != "" {
		return []string{req.Hostname + "." + req.Domainname, req.Hostname}
	}
	return []string{req.Hostname}
}
