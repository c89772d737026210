// Package tclab runs testcontainers-go requests on the hosts of a lab:
//
//	l := labtest.Up(t, "testdata/two-hosts.yaml")
//	c, err := tclab.Run(ctx, l.Host("node2"), testcontainers.GenericContainerRequest{
//		ContainerRequest: testcontainers.ContainerRequest{
//			Image:        "busybox",
//			Cmd:          []string{"sh", "-c", "echo ready; exec httpd -f -p 8080"},
//			ExposedPorts: []string{"8080/tcp"},
//			WaitingFor:   wait.ForLog("ready"),
//		},
//		Started: true,
//	})
//
// testcontainers-go finds one Docker daemon per process and keeps it; a
// lab has a daemon per host, and labs come and go. tclab gives
// testcontainers one endpoint for the whole process (a runtime provider,
// "nslab", whose socket lives under the lab state root) that sends each
// request to the daemon of the host it belongs to: a container's requests
// to the host it was created on, the requests of a creation to the host
// Run was given. Nothing of it reaches a Docker outside the labs, and no
// DOCKER_HOST is set.
//
// testcontainers dials a container's published ports from the test
// process, which lives in the machine's own network namespace, where no
// lab address is routed: Run refuses wait strategies that would (ForListeningPort,
// ForHTTP, ForSQL, ForMappedPort, ...) and takes those that run inside the
// container or through the daemon (ForLog, ForExec, ForHealthCheck,
// ForExit, ForFile, ForAll and ForAny of them). Container.Host reports an address no
// dial can use, so that a test cannot reach the machine's own localhost by
// mistake: reach a published port from a lab host instead (its Host.TCP,
// Host.HTTP, Host.DialContext, at the host's address and the port
// Container.MappedPort reports).
package tclab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
)

// Provider is the name of the testcontainers runtime provider tclab
// registers.
const Provider = "nslab"

// UnreachableHost is what Container.Host reports: an IPv6 link-local
// address whose zone names no interface, so that a dial to it fails before
// any packet is sent (the test process is in the machine's own namespace,
// where nothing of a lab is reachable).
const UnreachableHost = "fe80::1%nslab-lab-host"

var (
	routes = newRouter(filepath.Join(lab.DefaultRoot, "labtest", strconv.Itoa(os.Getpid())+".sock"))
	// creating holds the router's choice of host for one Run at a time.
	creating sync.Mutex
	setup    = sync.OnceValue(register)
)

// register makes the router testcontainers' runtime for this process:
// the provider "nslab", selected by testcontainers' configuration, which it
// reads once per process. TESTCONTAINERS_PROVIDER and, since there is no
// registry to pull it from, TESTCONTAINERS_RYUK_DISABLED are set only while
// testcontainers reads it, so that no child process inherits them.
func register() error {
	err := testcontainers.RegisterProvider(Provider, func() testcontainers.RuntimeProvider { return runtimeProvider{} })
	if err != nil {
		return fmt.Errorf("tclab: register the %s provider with testcontainers: %w", Provider, err)
	}
	restore := setenv(map[string]string{"TESTCONTAINERS_PROVIDER": Provider, "TESTCONTAINERS_RYUK_DISABLED": "true"})
	cfg := testcontainers.ReadConfig()
	restore()
	if cfg.Config.Provider != Provider || !cfg.RyukDisabled {
		return fmt.Errorf("tclab: testcontainers was configured before tclab (provider %q, reaper disabled %v): use tclab.Run before anything else of testcontainers in this process, or set TESTCONTAINERS_PROVIDER=%s and TESTCONTAINERS_RYUK_DISABLED=true",
			cfg.Config.Provider, cfg.RyukDisabled, Provider)
	}
	return nil
}

// setenv sets vars and returns what puts the environment back.
func setenv(vars map[string]string) (restore func()) {
	old := map[string]*string{}
	for k, v := range vars {
		if was, ok := os.LookupEnv(k); ok {
			old[k] = &was
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

type runtimeProvider struct{}

func (runtimeProvider) Initialize(context.Context) (testcontainers.RuntimeConfig, error) {
	// DockerSocketPath is the socket as a container would mount it
	// (testcontainers' reaper, disabled): never discovered elsewhere.
	return testcontainers.RuntimeConfig{
		DockerHost:       "unix://" + routes.path,
		DockerSocketPath: routes.path,
		PublishedHost:    UnreachableHost,
	}, nil
}

// Run runs req on the lab host h, as testcontainers.GenericContainer does
// on a Docker of its own, and terminates the container when h's test ends
// (before the lab goes down). Its error says when req asks for what cannot
// work against a lab host (a wait strategy that dials from the test
// process, a reused container, access to ports of the test process).
func Run(ctx context.Context, h *labtest.Host, req testcontainers.GenericContainerRequest) (testcontainers.Container, error) {
	if err := refuse(req); err != nil {
		return nil, err
	}
	if h.Socket() == "" {
		return nil, fmt.Errorf("tclab: host %s runs no Docker daemon", h.Name)
	}
	if err := setup(); err != nil {
		return nil, err
	}
	key := h.Lab().ID() + "-" + h.Name
	release, err := routes.use(key, h.Socket())
	if err != nil {
		return nil, err
	}
	t := h.Lab().T()
	t.Cleanup(release)
	c, err := create(ctx, key, req)
	if c != nil {
		// Cleanups run last in, first out: before release, after the
		// test's own.
		t.Cleanup(func() {
			tctx, cancel := context.WithTimeout(context.Background(), labtest.StepTimeout)
			defer cancel()
			if err := c.Terminate(tctx); err != nil {
				t.Errorf("tclab: terminate %s on %s: %v", c.GetContainerID(), h.Name, err)
			}
		})
	}
	if err != nil {
		return c, fmt.Errorf("tclab: on %s: %w", h.Name, err)
	}
	return c, nil
}

// create runs req with the router's choice of host set to key.
func create(ctx context.Context, key string, req testcontainers.GenericContainerRequest) (testcontainers.Container, error) {
	creating.Lock()
	defer creating.Unlock()
	routes.choose(key)
	defer routes.choose("")
	return testcontainers.GenericContainer(ctx, req)
}

// refuse says what of req cannot work against a lab host.
func refuse(req testcontainers.GenericContainerRequest) error {
	switch {
	case req.Reuse:
		return errors.New("tclab: Reuse: containers are not kept between labs")
	case len(req.HostAccessPorts) > 0:
		return errors.New("tclab: HostAccessPorts: the test process's ports are in the machine's own namespace, which a lab never reaches")
	}
	if req.WaitingFor != nil {
		return checkStrategy(req.WaitingFor)
	}
	return nil
}

// checkStrategy accepts the wait strategies that run inside the container
// or through the daemon's API, and refuses those that dial the container's
// ports from the test process.
func checkStrategy(s wait.Strategy) error {
	switch v := s.(type) {
	case *wait.LogStrategy, *wait.ExecStrategy, *wait.HealthStrategy, *wait.ExitStrategy, *wait.FileStrategy, *wait.NopStrategy:
		return nil
	case *wait.MultiStrategy:
		return checkStrategies(v.Strategies)
	case *wait.AnyMultiStrategy:
		return checkStrategies(v.Strategies)
	}
	return fmt.Errorf("tclab: wait strategy %T dials the container from the test process, which is in the machine's own network namespace and never reaches a lab: wait with ForLog, ForExec, ForHealthCheck, ForExit or ForFile, then probe the port from a lab host (labtest.Host.TCP, HTTP, DialContext)", s)
}

func checkStrategies(ss []wait.Strategy) error {
	for _, s := range ss {
		if err := checkStrategy(s); err != nil {
			return err
		}
	}
	return nil
}
