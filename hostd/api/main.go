package api

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/netns"
)

// Main is `nslab-hostd --config FILE` (cmd/nslab-hostd): the daemon of one
// virtual host. The lab starts it inside the host's network namespace and
// a new UTS namespace; it serves until SIGTERM or SIGINT, then removes
// every container and exits 0. With --ready-fd N it writes "ready\n" on
// that descriptor (a pipe the lab passes) once its socket listens, and
// closes it: the lab waits for that line instead of polling the socket.
// With --listen-fds it serves listening sockets it inherited (a lab that
// starts hostd on the first connection made them, and the connection waits
// in their backlog) instead of opening its own.
func Main(args []string) int {
	// hostd's children (containers' inits, execs, tools) must not inherit
	// a descriptor hostd got from whoever started it: Go marks its own
	// close-on-exec, not those.
	unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	fs := flag.NewFlagSet("hostd", flag.ContinueOnError)
	configPath := fs.String("config", "", "path of hostd.json")
	readyFD := fs.Int("ready-fd", -1, "descriptor on which to write \"ready\\n\" once the API socket listens")
	pinsFD := fs.Int("pins-mntns-fd", -1, "an inherited descriptor of the mount namespace in which to make the /run/netns pins (the machine's, when hostd runs in a virtual host's own); default: hostd's own")
	listenFDs := fs.String(hostdconfig.ListenFDsFlag, "", "inherited listening sockets, comma-separated, to serve instead of opening the API's own: the lab's socket, then each -H of the config, in order (a lab that starts hostd on the first connection opened them)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "hostd: --config is required")
		return 2
	}
	cfg, err := hostdconfig.Load(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logger := log.New(os.Stderr, "hostd["+cfg.Host+"] ", log.LstdFlags|log.Lmicroseconds)
	var ready *os.File
	if *readyFD >= 0 {
		ready = os.NewFile(uintptr(*readyFD), "ready")
		// Until the line is written, an exit closes the pipe: the lab
		// then reads end of file and says hostd exited.
		defer ready.Close()
	}
	pins, err := pinsIn(*pinsFD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := serve(cfg, pins, *listenFDs, logger, ready); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}

// pinsIn returns where hostd makes its /run/netns pins: the mount
// namespace of the inherited descriptor fd, or hostd's own (fd < 0).
func pinsIn(fd int) (*netns.Pins, error) {
	if fd < 0 {
		return netns.NewPins(nil), nil
	}
	f := os.NewFile(uintptr(fd), "pins-mntns")
	if _, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE); err != nil || f == nil {
		return nil, fmt.Errorf("hostd: --pins-mntns-fd %d is no namespace: %v", fd, err)
	}
	unix.CloseOnExec(fd)
	return netns.NewPins(f), nil
}

func serve(cfg *hostdconfig.Config, pins *netns.Pins, listenFDs string, logger *log.Logger, ready *os.File) error {
	if err := hostd.CheckNamespaces(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(cfg.Host)); err != nil {
		return fmt.Errorf("hostd %s: sethostname: %w", cfg.Host, err)
	}
	// Signals first: a SIGTERM during start-up must still clean up.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGTERM, unix.SIGINT)
	d, err := hostd.NewDaemon(*cfg, pins, logger)
	if err != nil {
		return err
	}
	lns, err := listeners(cfg, listenFDs)
	if err != nil {
		d.Shutdown()
		return err
	}
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	pidFile := filepath.Join(cfg.Root, "hostd.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		closeAll()
		d.Shutdown()
		return fmt.Errorf("hostd %s: %w", cfg.Host, err)
	}
	srv := &http.Server{Handler: Handler(d), ReadHeaderTimeout: 30 * time.Second, ErrorLog: logger}
	served := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { served <- srv.Serve(ln) }()
	}
	logger.Printf("serving Docker API %s (engine %s) on %s", apiVersion, engineVersion, strings.Join(append([]string{cfg.Socket}, cfg.Hosts...), ", "))
	if ready != nil {
		// The socket listens: a connection made now waits in its backlog.
		ready.WriteString("ready\n")
		ready.Close()
	}
	var serveErr error
	select {
	case sig := <-sigc:
		logger.Printf("%v: removing every container", sig)
	case serveErr = <-served:
	}
	// Stop accepting first, so that nothing new starts while containers go.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	srv.Shutdown(ctx)
	cancel()
	errs := []error{serveErr, d.Shutdown()}
	srv.Close()
	for _, ln := range lns {
		if u, ok := ln.Addr().(*net.UnixAddr); ok {
			os.Remove(u.Name)
		}
	}
	os.Remove(pidFile)
	if errors.Is(serveErr, http.ErrServerClosed) {
		errs[0] = nil
	}
	return errors.Join(errs...)
}

// listeners opens the API's listeners, or takes those inherited at the
// descriptors listenFDs names.
func listeners(cfg *hostdconfig.Config, listenFDs string) ([]net.Listener, error) {
	if listenFDs != "" {
		return cfg.Inherited(listenFDs)
	}
	return cfg.Listen()
}
