package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostsFileAsDockerWritesIt(t *testing.T) {
	got := hostsFile([]hostsEntry{{IP: "10.0.0.9", Names: []string{"db"}}},
		[]hostsEntry{{IP: "172.17.0.3", Names: []string{"ddc31e8d2c7c"}}})
	want := "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n" +
		"10.0.0.9\tdb\n" +
		"172.17.0.3\tddc31e8d2c7c\n"
	if got != want {
		t.Fatalf("hosts:\n%s\nwant:\n%s", got, want)
	}
}

func TestResolvConf(t *testing.T) {
	if got := resolvConf([]string{"192.168.8.1"}, []string{"lab"}, []string{"ndots:0"}); got != "search lab\nnameserver 192.168.8.1\noptions ndots:0\n" {
		t.Fatalf("resolv.conf %q", got)
	}
	empty := resolvConf(nil, nil, nil)
	if strings.Contains(empty, "nameserver") || !strings.HasPrefix(empty, "#") {
		t.Fatalf("resolv.conf without resolvers must name none: %q", empty)
	}
}

// A connect appends the container's line for its new address; a disconnect
// drops every line that ends in its names (those of its other networks
// too, as Docker 20.10's etchosts.Delete does), keeps comments and the
// other lines, drops empty lines, and keeps the file's inode: it is bound
// over a running container's /etc/hosts.
func TestHostsEntriesAddAndDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	if err := writeInPlace(path, "# kept\n"+hostsFile([]hostsEntry{{IP: "10.0.0.9", Names: []string{"db"}}}, []hostsEntry{{IP: "172.17.0.3", Names: []string{"web.lab", "web"}}})+"\n"); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := addHostsEntry(path, hostsEntry{IP: "172.18.0.2", Names: []string{"web.lab", "web"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), "\n172.18.0.2\tweb.lab web\n") {
		t.Fatalf("after add:\n%s", b)
	}
	if err := deleteHostsEntries(path, []string{"web.lab", "web"}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	want := "# kept\n" + strings.Join(hostsDefaults, "\n") + "\n10.0.0.9\tdb\n"
	if string(b) != want {
		t.Fatalf("after delete:\n%q\nwant\n%q", b, want)
	}
	after, err := os.Stat(path)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the file was replaced (%v): a running container would keep the old one", err)
	}
}

// A container names itself by hostname, with its domain first when it has
// one; --add-host's lines and its links' come before its own.
func TestHostNamesAndExtraHosts(t *testing.T) {
	if got := hostNames(SandboxRequest{Hostname: "web", Domainname: "lab"}); strings.Join(got, " ") != "web.lab web" {
		t.Errorf("with a domain: %v", got)
	}
	if got := hostNames(SandboxRequest{Hostname: "web"}); strings.Join(got, " ") != "web" {
		t.Errorf("without: %v", got)
	}
	got := hostsFile(extraHosts(SandboxRequest{ExtraHosts: []string{"db:10.0.0.9", "bad"}}), nil)
	if !strings.HasSuffix(got, "ip6-allrouters\n10.0.0.9\tdb\n") {
		t.Errorf("extra hosts:\n%s", got)
	}
}
