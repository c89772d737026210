package rootfs

import (
	"errors"
	"syscall"
)

// errNotInPath is exec.ErrNotFound's text, which Docker users know.
var errNotInPath = errors.New("executable file not found in $PATH")

// LookPath finds the program argv[0] names as Go's exec.LookPath (which
// runc uses) does, in the calling thread's root: a name with a slash is
// taken as it is, any other is searched in env's PATH. It must run where
// the root is the container's (its init after pivot_root, or a thread that
// joined its mount namespace), so that every absolute symlink resolves
// inside the container.
func LookPath(name string, env []string) (string, error) {
	if name == "" {
		return "", execError(name, errNotInPath)
	}
	if contains(name, '/') {
		if err := findExecutable(name); err != nil {
			return "", execError(name, err)
		}
		return name, nil
	}
	for _, dir := range split(Getenv(env, "PATH"), ':') {
		if dir == "" {
			dir = "."
		}
		if p := dir + "/" + name; findExecutable(p) == nil {
			return p, nil
		}
	}
	return "", execError(name, errNotInPath)
}

func findExecutable(file string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err != nil {
		return &statError{path: file, err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR && st.Mode&0o111 != 0 {
		return nil
	}
	return syscall.EACCES
}

// Getenv is the value of key in a KEY=VALUE list (the last one wins, as
// Docker merges them so that there is one).
func Getenv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
			v = kv[len(key)+1:]
		}
	}
	return v
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
			return true
		}
	}
	return false
}

func contains(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// components is a container path cleaned lexically into its names: the
// path is always taken from the container's root, and ".." never climbs
// above it.
func components(p string) []string {
	var out []string
	for _, c := range split(p, '/') {
		switch c {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// resolveIn opens path (O_PATH) with root as the root of every lookup:
// "..", absolute symlinks and mount crossings all stay below root.
func resolveIn(root int, path string) (int, error) {
	return openat2(root, path, oPath, 0, resolveInRoot|resolveNoMagiclinks)
}

// MkdirAllIn makes the directory path below root, resolving each existing
// part inside root (a symlink in the image cannot lead out), and returns it
// opened O_PATH.
func MkdirAllIn(root int, path string) (int, error) {
	parent, err := resolveIn(root, ".")
	if err != nil {
		return -1, err
	}
	cur := ""
	for _, c := range components(path) {
		cur += "/" + c
		fd, err := resolveIn(root, cur)
		if err == syscall.ENOENT {
			if err := syscall.Mkdirat(parent, c, 0o755); err != nil && err != syscall.EEXIST {
				syscall.Close(parent)
				return -1, err
			}
			fd, err = resolveIn(root, cur)
		}
		syscall.Close(parent)
		if err != nil {
			return -1, err
		}
		parent = fd
	}
	return parent, nil
}

// createIn makes path below root a file or a directory unless something is
// there already, and returns it opened O_PATH.
func createIn(root int, path string, dir bool) (int, error) {
	if dir {
		return MkdirAllIn(root, path)
	}
	if fd, err := resolveIn(root, path); err != syscall.ENOENT {
		return fd, err
	}
	comps := components(path)
	if len(comps) == 0 {
		return -1, syscall.EISDIR
	}
	parentPath := ""
	for _, c := range comps[:len(comps)-1] {
		parentPath += "/" + c
	}
	parent, err := MkdirAllIn(root, parentPath)
	if err != nil {
		return -1, err
	}
	defer syscall.Close(parent)
	f, err := syscall.Openat(parent, comps[len(comps)-1], syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if err != nil && err != syscall.EEXIST {
		return -1, err
	}
	if err == nil {
		syscall.Close(f)
	}
	return resolveIn(root, path)
}

// isDir reports whether fd is a directory.
func isDir(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFDIR
}
