// Package bench holds nslab's cross-package benchmarks: BenchmarkRunOnBridge
// measures containers created and started per second through the Docker
// Engine API on one user-defined bridge, against hostd and, when dockerd is
// installed, against a real Docker 20.10 started side by side in a
// throwaway network namespace. Run it as root:
//
//	go test -run '^$' -bench RunOnBridge -benchtime 1x ./bench/
package bench
