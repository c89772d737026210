// Package bench holds nslab's cross-package benchmarks. BenchmarkRunOnBridge
// measures containers created and started per second through the Docker
// Engine API on one user-defined bridge, the call sequence of `docker run -d
// --network benchnet alpine sleep 1000` (create, then start), one container
// after another:
//
//   - hostd-10, hostd-100, hostd-500: against hostd, started as the lab
//     starts it, in a fresh network namespace;
//   - hostd-500-4clients: the same 500 from four clients at once;
//   - dockerd-10: against a real Docker 20.10 (Debian's docker.io) started in
//     a throwaway network namespace as fixtures/docker-20.10/README.md says,
//     with alpine:latest built locally from busybox-static, never pulled; it
//     reports Docker's rate, hostd's rate for the same 10 containers, and the
//     ratios hostd10/dockerd10 and hostd-slowest/dockerd. It skips, saying
//     so, where dockerd is not installed. Everything dockerd made (containers,
//     processes, mounts, directories, its namespace) is removed afterwards.
//
// Each round waits, untimed, until the kernel has freed the namespaces of
// the rounds before, and containers are removed between rounds untimed.
// hostd's state directory goes on /dev/shm (see stateBase). Run as root:
//
//	go test -run '^$' -bench RunOnBridge -benchtime 1x ./bench/
//
// BenchmarkMininet and BenchmarkPingAll put nslab next to Mininet 2.3
// (Debian's mininet: Linux bridge, no controller) in the same run:
// bringing up and down one segment of 50 hosts, and checking all pairs of
// 50 endpoints (Mininet's pingAll, probe.Reachability between 50
// containers). Mininet runs in network, PID and mount namespaces of its
// own (unshare): it keeps its switch and the switch's end of every host's
// veth in the namespace it runs in, and its start-up raises limits of the
// whole machine, which mininet_side.py skips. They skip, saying so, where
// Mininet is not installed.
package bench
