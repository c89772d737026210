package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/nslab/nslab/lab"
)

// printSummary tells the user what is up and how to reach it: each host's
// addresses and DOCKER_HOST, and commands to paste.
func printSummary(w io.Writer, root string, l *lab.Lab, detached bool) {
	t := l.Topology()
	name := ""
	if t.Name != "" {
		name = " (" + t.Name + ")"
	}
	fmt.Fprintf(w, "lab %s%s is up: %s, %s\n\n", l.ID(), name, count(len(t.Hosts), "host"), count(len(t.Segments), "segment"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  HOST\tKIND\tADDRESSES\tDOCKER_HOST")
	for _, h := range l.Hosts() {
		dh := h.DockerHost()
		if dh == "" {
			dh = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", h.Name, h.Spec.Kind, addresses(h.Spec), dh)
	}
	tw.Flush()
	var members []string
	for _, h := range l.Hosts() {
		if m := h.Spec.Etcd; m != nil {
			members = append(members, fmt.Sprintf("%s on %s (http://%s:%d)", m.Name, h.Name, m.Address, lab.EtcdClientPort))
		}
	}
	if len(members) > 0 {
		fmt.Fprintf(w, "\n  etcd: %s\n", strings.Join(members, ", "))
	}

	// As the user typed it (./bin/nslab, nslab), so the lines can be pasted.
	cli := os.Args[0]
	if root != lab.DefaultRoot {
		cli += " --root " + root
	}
	cli += " --lab " + l.ID()
	hosts := l.Hosts()
	if len(hosts) == 0 {
		return
	}
	first := hosts[0]
	for _, h := range hosts {
		if h.DockerHost() != "" {
			first = h
			break
		}
	}
	fmt.Fprintf(w, "\nTry:\n")
	fmt.Fprintf(w, "  %s shell %s\n", cli, first.Name)
	fmt.Fprintf(w, "  %s exec %s -- ip addr\n", cli, first.Name)
	fmt.Fprintf(w, "  ip netns exec %s-%s ip route\n", l.ID(), first.Name)
	for _, h := range hosts {
		if h.Spec.Etcd != nil {
			fmt.Fprintf(w, "  %s exec %s -- etcdctl member list\n", cli, h.Name)
			break
		}
	}
	if first.DockerHost() != "" {
		c := freeContainerName(first.Spec)
		fmt.Fprintf(w, "  %s docker %s -- run -itd --name %s --network none alpine\n", cli, first.Name, c)
		fmt.Fprintf(w, "  %s exec %s/%s -- ip a\n", cli, first.Name, c)
		fmt.Fprintf(w, "  DOCKER_HOST=%s docker ps\n", first.DockerHost())
	}
	if detached {
		fmt.Fprintf(w, "\nTake it down with: %s down\n", cli)
	} else {
		fmt.Fprintf(w, "\nCtrl-C takes it down.\n")
	}
}

// addresses lists a host's legs as "eth1=192.168.8.150/24".
func addresses(h lab.HostSpec) string {
	var s []string
	for _, i := range h.Interfaces {
		a := "-"
		if i.Address.IsValid() {
			a = i.Address.String()
		}
		s = append(s, i.Name+"="+a)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// freeContainerName picks the first of cm01, cm02, ... (the container
// names a student types in the exercises) that the topology
// has not taken for a container of h already.
func freeContainerName(h lab.HostSpec) string {
	for n := 1; ; n++ {
		name := fmt.Sprintf("cm%02d", n)
		if !slices.ContainsFunc(h.Containers, func(c lab.ContainerSpec) bool { return c.Name == name }) {
			return name
		}
	}
}
