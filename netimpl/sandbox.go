package netimpl

// SandboxKind says where a sandbox's network namespace comes from.
type SandboxKind int

const (
	// SandboxOwn is a namespace of its own, made for the container (none,
	// bridge, macvlan, overlay modes).
	SandboxOwn SandboxKind = iota
	// SandboxHost is the host's own namespace (host mode).
	SandboxHost
	// SandboxShared is another sandbox's namespace (container:NAME mode).
	SandboxShared
)

func (k SandboxKind) String() string {
	switch k {
	case SandboxOwn:
		return "own"
	case SandboxHost:
		return "host"
	case SandboxShared:
		return "shared"
	}
	return "unknown"
}

// Sandbox is a container's network namespace. It is always pinned at Key
// (/run/netns/<name>), also when the namespace is the host's or another
// container's, so that `ip netns exec <name>` reaches what the container sees.
type Sandbox struct {
	ID          string
	ContainerID string
	// Key is the pin path of the namespace.
	Key  string
	Kind SandboxKind
	// SharedWith is the id of the sandbox whose namespace this one shares
	// (SandboxShared only).
	SharedWith string
}

// SandboxSpec asks for a sandbox. Host and Share are exclusive; neither
// means a fresh namespace with only its loopback up.
type SandboxSpec struct {
	ContainerID string
	// PinName is the /run/netns entry to create.
	PinName string
	// Host makes the sandbox the host's own namespace.
	Host bool
	// Share names the sandbox (by id) whose namespace to share.
	Share string
}
