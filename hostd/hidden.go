package hostd

// Hidden holds the entry points that the nslab binary dispatches on its
// first argument before its command line: "hostd" (the daemon) and the
// container init shim that hostd re-executes itself as.
var Hidden = map[string]func(args []string) int{
	"hostd":  Main,
	initName: initMain,
}
