package hostd

// Hidden holds the entry points that the nslab binary dispatches on its
// first argument before its command line: "hostd", the daemon. (Containers
// need no re-executed helper: hostd starts their commands itself.)
var Hidden = map[string]func(args []string) int{
	"hostd": Main,
}
