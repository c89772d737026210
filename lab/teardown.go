package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

const (
	// hostdGrace is how long a real dockerd gets after SIGTERM to stop
	// its containers and exit.
	hostdGrace = 5 * time.Second
	// killGrace is how long SIGKILLed processes get to disappear.
	killGrace = 5 * time.Second
)

// teardown removes lab id: it stops each real dockerd (hostdPIDs, by
// host) with SIGTERM and then SIGKILL, kills each hostd (hostdPIDs again)
// and every process still in one of the lab's namespaces, unpins every
// namespace under the lab's prefix and removes the state directory and
// the data directory (data; "" for none). It needs
// nothing but what is on disk and in /proc, so a fresh process (Open +
// Down, GC) can run it, and it can be repeated.
// dockerd says whether real dockerds may have run (a lab of that runtime,
// or one whose runtime is unknown): their leftovers are swept too.
func teardown(ctx context.Context, dir, data, id string, hostdPIDs map[string]int, dockerd bool, tm *timings) error {
	t0 := time.Now()
	var errs []error
	held := newHeldNamespaces()
	defer held.close()
	held.add(id, dir)
	inodes := held.inodes()

	// A real dockerd first and gently: on SIGTERM it stops its containers
	// and containerd, whose shims and cgroups a kill would leave to the
	// sweep. hostd is killed with everything else below: all it made lives
	// in the lab's namespaces and directories, which go next, so its own
	// shutdown (containers one by one, the firewall's rules undone, the
	// namespaces it keeps ready released) would only cost the down its
	// time. A pid counts only while it still lives in one of the lab's
	// namespaces; anything else is a reused pid.
	if dockerd {
		stopGently(ctx, hostdPIDs, inodes)
		tm.since("down: dockerd SIGTERM until exit", t0)
		t0 = time.Now()
	}

	if err := killInside(ctx, held, id, dir, hostdPIDs, inodes, dockerd); err != nil {
		errs = append(errs, err)
	}
	tm.since("down: kill what is left", t0)
	t0 = time.Now()
	// dockerd's containers live in namespaces pinned only inside the
	// host's mount namespace, and in cgroups of their own: finding them
	// takes a read of every process's command line, which only a lab that
	// may have run dockerd needs.
	if dockerd {
		if err := sweepDockerd(ctx, dir, id); err != nil {
			errs = append(errs, err)
		}
	}
	tm.since("down: sweep dockerd", t0)
	t0 = time.Now()
	// The hosts' UTS and mount namespace pins go with the network ones:
	// with its last pin and process gone, a host's mount namespace and all
	// that was mounted in it (its /run, its daemon's pins, its containers'
	// root filesystems) go away, before their directories do. Then the
	// state directory's tmpfs.
	if err := unpinAll(id, dir); err != nil {
		errs = append(errs, err)
	}
	if err := unmountTree(dir); err != nil {
		errs = append(errs, fmt.Errorf("lab %s: unmount state: %w", id, err))
	}
	tm.since("down: unpin namespaces", t0)
	t0 = time.Now()
	if err := removeDataDir(data); err != nil {
		errs = append(errs, fmt.Errorf("lab %s: %w", id, err))
	}
	if err := removeTree(dir); err != nil {
		errs = append(errs, fmt.Errorf("lab %s: remove state: %w", id, err))
	}
	tm.since("down: remove state", t0)
	return errors.Join(errs...)
}

// killInside kills whatever is left in the lab's namespaces: containers
// whose hostd died without cleaning up, shells from exec, a student's sleep
// loop, a daemon's helpers (containerd and its shims live in the host's
// namespaces) — hostd itself first, before the scan, so that it starts
// nothing more meanwhile. hostd may have pinned namespaces meanwhile, so
// each round after the first looks again.
func killInside(ctx context.Context, held *heldNamespaces, id, dir string, hostdPIDs map[string]int, inodes map[uint64]string, dockerd bool) error {
	var killed []proc
	if !dockerd {
		killed = insideAll(hostdPIDs, inodes)
		for _, p := range killed {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	// The first round looks in what the teardown held just before (each
	// host's mount namespace entered costs); later rounds look again for
	// what the processes killed made meanwhile.
	first := true
	left := killUntilGone(ctx, func() []proc {
		if !first {
			held.add(id, dir)
		}
		first = false
		victims := addProcs(held.scan(), killed)
		killed = nil // waited for in the first round
		return victims
	})
	if len(left) > 0 {
		return fmt.Errorf("lab %s: %d processes survived SIGKILL (first: pid %d)", id, len(left), left[0].pid)
	}
	return nil
}

// removeTree is os.RemoveAll of dir with its entries (a host's directory
// each) removed several at a time: an unlink waits on the filesystem's
// journal and the directory's lock, and those of different hosts overlap.
func removeTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	paths := make([]string, len(ents))
	for i, e := range ents {
		paths[i] = filepath.Join(dir, e.Name())
	}
	errs := eachPath(paths, 8, os.RemoveAll)
	return errors.Join(append(errs, os.RemoveAll(dir))...)
}

// eachPath runs fn on every path, at most workers at once, and returns
// every error.
func eachPath(paths []string, workers int, fn func(string) error) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	jobs := make(chan string)
	for w := 0; w < min(workers, len(paths)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				if err := fn(p); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range paths {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	return errs
}

// stopGently sends SIGTERM to each daemon of pids that lives in one of the
// namespaces and SIGKILL to those still running after hostdGrace.
func stopGently(ctx context.Context, pids map[string]int, inodes map[uint64]string) {
	var stopping []proc
	for _, p := range insideAll(pids, inodes) {
		if syscall.Kill(p.pid, syscall.SIGTERM) == nil {
			stopping = append(stopping, p)
		}
	}
	for _, p := range waitGone(ctx, stopping, hostdGrace) {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// insideAll is inside for each of pids: those that live in one of the
// namespaces.
func insideAll(pids map[string]int, inodes map[uint64]string) []proc {
	var out []proc
	for _, pid := range pids {
		if p, ok := inside(pid, inodes); ok {
			out = append(out, p)
		}
	}
	return out
}

// addProcs adds to ps those of more it does not hold yet.
func addProcs(ps, more []proc) []proc {
	for _, p := range more {
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// proc identifies a process across pid reuse.
type proc struct {
	pid   int
	start uint64
}

func (p proc) alive() bool {
	start, ok := procStart(p.pid)
	return ok && start == p.start
}

// inside reports whether pid (never this process) lives in one of the
// namespaces: its network, UTS or mount namespace is one of them. The
// namespaces are looked at first: a stat each, where the start time costs
// a read and a parse of /proc/PID/stat, and a scan of the machine's
// processes asks it of every one.
func inside(pid int, inodes map[uint64]string) (proc, bool) {
	return insideKinds(pid, inodes, nsKinds)
}

// nsKinds are the kinds of namespace a lab's process may live in.
var nsKinds = []string{"net", "uts", "mnt"}

// insideKinds is inside looking only at the namespaces of kinds.
func insideKinds(pid int, inodes map[uint64]string, kinds []string) (proc, bool) {
	if pid <= 1 || pid == os.Getpid() {
		return proc{}, false
	}
	for _, kind := range kinds {
		ino, err := netns.Inode("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
		if err != nil {
			return proc{}, false
		}
		if _, ok := inodes[ino]; !ok {
			continue
		}
		if visiting(pid, kind) {
			// Only a thread of it is there (setns on one thread, as a
			// test's probe does): the process lives in the machine's
			// namespaces and is not the lab's to kill.
			return proc{}, false
		}
		start, ok := procStart(pid)
		if !ok {
			return proc{}, false
		}
		return proc{pid: pid, start: start}, true
	}
	return proc{}, false
}

// visiting reports whether a thread of pid is in the machine's own
// namespace of kind (machineNamespace). /proc/PID/ns shows the main
// thread's alone, and a process of the machine may have that thread in a
// lab's namespace for a moment (a Go program's netns.Do runs on whichever
// thread it is on): another suite process, whose main thread probed a lab
// that was being torn down, was killed so. A lab's own processes (its
// daemons, their containers, shells in a host) have no thread in the
// machine's namespaces. A thread that ends meanwhile does not count.
func visiting(pid int, kind string) bool {
	machine, ok := machineNamespace(kind)
	if !ok {
		return false
	}
	task := "/proc/" + strconv.Itoa(pid) + "/task/"
	tids, err := os.ReadDir(task)
	if err != nil {
		return false
	}
	for _, t := range tids {
		if ino, err := netns.Inode(task + t.Name() + "/ns/" + kind); err == nil && ino == machine {
			return true
		}
	}
	return false
}

// machineNamespace returns the inode of the machine's namespace of kind:
// PID 1's, or, where PID 1's cannot be read (a sandbox's init that does
// not let even root look: this machine's), this process's, which runs in
// the machine's namespaces.
func machineNamespace(kind string) (uint64, bool) {
	for _, pid := range []string{"1", "self"} {
		if ino, err := netns.Inode("/proc/" + pid + "/ns/" + kind); err == nil {
			return ino, true
		}
	}
	return 0, false
}

// scanInside lists every process whose network namespace is one of inodes.
func scanInside(inodes map[uint64]string) []proc {
	if len(inodes) == 0 {
		return nil
	}
	return scanProcs(func(pid int) (proc, bool) { return inside(pid, inodes) })
}

// scanProcs lists the machine's processes that match takes.
func scanProcs(match func(pid int) (proc, bool)) []proc {
	pids, _ := kernel.Processes()
	var out []proc
	for _, pid := range pids {
		if p, ok := match(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// killRounds is how many times killUntilGone looks again: a process may
// fork, or a daemon start a container, while the previous ones die.
const killRounds = 5

// killUntilGone SIGKILLs every process find lists and waits for them to go,
// then asks find again, until it lists none or killRounds are over; it
// returns what outlived SIGKILL in the last round.
func killUntilGone(ctx context.Context, find func() []proc) []proc {
	var left []proc
	for round := 0; round < killRounds; round++ {
		victims := find()
		if len(victims) == 0 {
			return nil
		}
		for _, p := range victims {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		left = waitGone(ctx, victims, killGrace)
	}
	return left
}

// waitGone waits until every process has exited (or become a zombie) or
// the grace period ends, and returns those still running. The kernel says
// when: a pidfd becomes readable when its process exits.
func waitGone(ctx context.Context, ps []proc, grace time.Duration) []proc {
	deadline := time.Now().Add(grace)
	var fds []int
	var watched []proc
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, p := range ps {
		fd, err := unix.PidfdOpen(p.pid, 0)
		if err != nil {
			if !errors.Is(err, unix.ESRCH) && p.alive() {
				// No pidfd to be had (out of descriptors): the
				// caller takes it as still running and kills it.
				watched = append(watched, p)
				fds = append(fds, -1)
			}
			continue
		}
		// The pid may have been reused before the pidfd was opened; with
		// the same start time now, the pidfd is this process's.
		if !p.alive() {
			unix.Close(fd)
			continue
		}
		watched, fds = append(watched, p), append(fds, fd)
	}
	if len(watched) == 0 {
		return nil
	}
	// A cancelled ctx wakes the poll through a pipe.
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return watched
	}
	defer unix.Close(wake[0])
	defer unix.Close(wake[1])
	stop := context.AfterFunc(ctx, func() { unix.Write(wake[1], []byte{0}) })
	defer stop()
	return pollExits(watched, fds, wake[0], deadline)
}

// pollExits polls the pidfds (and wake) until every process exited, wake
// is readable or the deadline passes, and returns those still running. An
// fd of -1 is a process it cannot watch: it counts as running.
func pollExits(ps []proc, fds []int, wake int, deadline time.Time) []proc {
	for {
		pfds := []unix.PollFd{{Fd: int32(wake), Events: unix.POLLIN}}
		var left []proc
		var leftFDs []int
		for i, fd := range fds {
			if fd >= 0 {
				pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
			}
			left, leftFDs = append(left, ps[i]), append(leftFDs, fd)
		}
		if len(pfds) == 1 {
			return left
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return left
		}
		_, err := unix.Poll(pfds, int(wait.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return left
		}
		if pfds[0].Revents != 0 {
			return left
		}
		exited := map[int]bool{}
		for _, pfd := range pfds[1:] {
			if pfd.Revents != 0 {
				exited[int(pfd.Fd)] = true
			}
		}
		ps, fds = nil, nil
		for i, fd := range leftFDs {
			if !exited[fd] {
				ps, fds = append(ps, left[i]), append(fds, fd)
			}
		}
		if len(ps) == 0 {
			return nil
		}
	}
}

// unpinAll deletes every /run/netns pin of lab id and the hosts' UTS and
// mount namespace pins in its state directory dir, several at a time: each
// unmount waits for an RCU grace period, as does the end of a host's mount
// namespace, and those overlap.
func unpinAll(id, dir string) error {
	pins, err := labPins(id)
	if err != nil {
		return fmt.Errorf("lab %s: list pins: %w", id, err)
	}
	for _, kind := range []string{"*.uts", "*.mnt"} {
		hostPins, _ := filepath.Glob(filepath.Join(dir, nsDir, kind))
		pins = append(pins, hostPins...)
	}
	errs := eachPath(pins, 32, netns.Delete)
	if left, _ := labPins(id); len(left) > 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("lab %s: pins left: %v", id, left))
	}
	return errors.Join(errs...)
}

// GC tears down every lab under root ("" for DefaultRoot) whose owner is
// gone (no such pid, or a pid reused by a process with another start time)
// and returns their ids. A lab whose owner is alive is left alone, even
// while it is still starting.
func GC(ctx context.Context, root string) ([]string, error) {
	root = stateRoot(root)
	ids, err := labDirs(root)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, id := range ids {
		dir := filepath.Join(root, id)
		s, err := readState(dir)
		if err != nil {
			// Up makes the directory and then writes lab.json at once; a
			// directory without one for a while is what a crash between
			// the two leaves behind.
			st, serr := os.Stat(dir)
			if serr != nil || time.Since(st.ModTime()) < 10*time.Second {
				continue
			}
			// Without lab.json the data directory is the default one.
			if err := teardown(ctx, dir, dataDir(DefaultDataRoot, id), id, nil, true, nil); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, id)
			continue
		}
		if s.ownerAlive() {
			continue
		}
		l, err := Open(root, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := l.Down(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, id)
	}
	return removed, errors.Join(errs...)
}
