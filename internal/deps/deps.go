// Package deps pins the module's third-party dependencies while the packages
// that use them are being written, so that `go mod tidy` keeps them.
package deps

import (
	_ "github.com/coreos/go-iptables/iptables"
	_ "github.com/creack/pty"
	_ "github.com/google/gopacket"
	_ "github.com/google/nftables"
	_ "github.com/miekg/dns"
	_ "github.com/moby/moby/client"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/onsi/gomega/gexec"
	_ "github.com/spf13/cobra"
	_ "github.com/testcontainers/testcontainers-go"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "golang.org/x/net/icmp"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/yaml.v3"
)
