// Command nslab-etcd runs one member of a lab's etcd cluster: what a
// classic overlay's cluster store runs on each docker host as
//
//	etcd --name docker-node1 --listen-peer-urls http://192.168.8.150:2380 \
//	  --listen-client-urls http://192.168.8.150:2379,http://127.0.0.1:2379 ...
//
// The lab starts it inside the member's virtual host (its network
// namespace), so its sockets are that host's. It is a binary of its own,
// not a subcommand of nslab: linking the etcd server adds about 20 MB to
// the resident set of every process of a binary, and every hostd is an
// nslab process.
//
//	nslab-etcd -name docker-node1 -data-dir DIR -advertise 192.168.8.150 \
//	  -cluster docker-node1=192.168.8.150,docker-node2=192.168.8.148 \
//	  -loopback -v2 [-token T] [-tick MS] [-election MS] [-log FILE] \
//	  [-timeout D] [-ready-fd N]
//
// It prints "ready URL,URL" once the member has joined its cluster, runs
// until SIGTERM or SIGINT, and exits 1 with the reason when the member
// cannot start or stops on its own.
package main

import (
	"os"

	"github.com/nslab/nslab/etcdmember"
)

func main() {
	os.Exit(etcdmember.Main("nslab-etcd", os.Args[1:], os.Stdout, os.Stderr, 0))
}
