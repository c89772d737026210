// Package scenarios holds the Ginkgo specs that reproduce the exercises of
// the source documents (EXERCISES.md, E01–E23), one file per group.
//
// The specs are written against the lab API and the Docker Engine API, never
// against a particular daemon: a suite chooses the runtime (suites/native:
// hostd; suites/reference: real dockerd) with Use, then runs them. Each
// exercise that a student does with the docker CLI runs twice, once through
// the real docker CLI and once through the Docker API client, and asserts the
// outcome on the kernel (netlink dumps, namespace inodes) and the wire
// (probes), not on anything the lab or hostd reports about itself.
package scenarios
