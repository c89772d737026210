package rootfs

import "syscall"

// User is who a container process runs as.
type User struct {
	UID, GID uint32
	// Groups are the supplementary groups.
	Groups []uint32
	// Home is the passwd entry's home ("/" without one): runc sets HOME
	// from it when the environment has none.
	Home string
}

// passwd and group entries, as libcontainer/user parses them.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// LookupUser resolves Docker's --user ("name|uid[:group|gid]", "" for
// root) and --group-add against /etc/passwd and /etc/group of the calling
// thread's root, with runc's rules: a name must have an entry, a number
// need not; without an explicit group the user's groups in /etc/group are
// its supplementary groups.
func LookupUser(spec string, groupAdd []string) (u User, err error) {
	userArg, groupArg := spec, ""
	for i := 0; i < len(spec); i++ {
		if spec[i] == ':' {
			userArg, groupArg = spec[:i], spec[i+1:]
			break
		}
	}
	u = User{Home: "/"}
	uidArg, uidNumeric := atoi(userArg)
	name := ""
	for _, e := range readPasswd() {
		if (userArg == "" && e.uid == 0) || (uidNumeric && e.uid == uidArg) || (!uidNumeric && userArg != "" && e.name == userArg) {
			u.UID, u.GID, u.Home, name = e.uid, e.gid, e.home, e.name
			break
		}
	}
	if name == "" && userArg != "" {
		if !uidNumeric {
			return u, &Error{Kind: ErrUser, Msg: "unable to find user " + userArg + ": no matching entries in passwd file"}
		}
		u.UID = uidArg
	}
	groups := readGroups()
	defer func() {
		// The process's supplementary groups start with its group, as
		// Docker 20.10's containers show them (id: groups=GID,...).
		u.Groups = dedupe(append([]uint32{u.GID}, u.Groups...))
	}()
	if groupArg != "" {
		gid, ok := findGroup(groups, groupArg)
		if !ok {
			return u, &Error{Kind: ErrUser, Msg: "unable to find group " + groupArg + ": no matching entries in group file"}
		}
		u.GID = gid
	} else if name != "" {
		for _, g := range groups {
			for _, m := range g.members {
				if m == name {
					u.Groups = append(u.Groups, g.gid)
					break
				}
			}
		}
	}
	for _, ag := range groupAdd {
		gid, ok := findGroup(groups, ag)
		if !ok {
			return u, &Error{Kind: ErrUser, Msg: "Unable to find group " + ag}
		}
		u.Groups = append(u.Groups, gid)
	}
	return u, nil
}

func dedupe(l []uint32) []uint32 {
	var out []uint32
	for _, v := range l {
		seen := false
		for _, o := range out {
			seen = seen || o == v
		}
		if !seen {
			out = append(out, v)
		}
	}
	return out
}

// findGroup finds a group by name, or by number (a number need not have
// an entry).
func findGroup(groups []groupEntry, arg string) (uint32, bool) {
	n, numeric := atoi(arg)
	for _, g := range groups {
		if (numeric && g.gid == n) || (!numeric && g.name == arg) {
			return g.gid, true
		}
	}
	return n, numeric
}

func readPasswd() []passwdEntry {
	var out []passwdEntry
	for _, f := range readDB("/etc/passwd") {
		if len(f) < 7 {
			continue
		}
		uid, ok1 := atoi(f[2])
		gid, ok2 := atoi(f[3])
		if ok1 && ok2 {
			out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5]})
		}
	}
	return out
}

func readGroups() []groupEntry {
	var out []groupEntry
	for _, f := range readDB("/etc/group") {
		if len(f) < 4 {
			continue
		}
		gid, ok := atoi(f[2])
		if !ok {
			continue
		}
		g := groupEntry{name: f[0], gid: gid}
		if f[3] != "" {
			g.members = split(f[3], ',')
		}
		out = append(out, g)
	}
	return out
}

// readDB reads a colon-separated database (passwd, group), skipping
// comments and blank lines; a missing file has no entries.
func readDB(path string) [][]string {
	b, err := readFile(path, 1<<20)
	if err != nil {
		return nil
	}
	var out [][]string
	for _, line := range split(string(b), '\n') {
		line = trimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, split(line, ':'))
	}
	return out
}

// readFile reads at most limit bytes of a file.
func readFile(path string, limit int) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < limit {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	return out, nil
}

func split(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
