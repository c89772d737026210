// Package types are the JSON shapes of Docker 20.10's Engine API (1.41)
// that hostd reads and writes, with Docker's field names: what the API
// decodes and the daemon keeps and shows.
package types

import (
	"encoding/json"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostd/mount"
)

// They are hostd's own types so that the server does not depend on a
// client library's idea of a newer API.

// StrSlice is Docker's StrSlice: a JSON string or an array of strings.
type StrSlice = image.StrSlice

// ContainerConfig is a container's Config: Docker's container.Config, the
// type of an image's config too.
type ContainerConfig = image.ContainerConfig

// LogConfig is HostConfig.LogConfig.
type LogConfig struct {
	Type   string
	Config map[string]string
}

// RestartPolicy is HostConfig.RestartPolicy.
type RestartPolicy struct {
	Name              string
	MaximumRetryCount int
}

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// HostConfig is a container's HostConfig, every field of Docker 20.10's
// (API 1.41): hostd decodes them all so that it can refuse, by name, a
// field it does not implement (refuse.go), and echoes them in inspect as
// Docker does.
type HostConfig struct {
	Binds           []string
	ContainerIDFile string
	LogConfig       LogConfig
	NetworkMode     string
	PortBindings    map[string][]PortBinding
	RestartPolicy   RestartPolicy
	AutoRemove      bool
	VolumeDriver    string
	VolumesFrom     []string
	CapAdd          StrSlice
	CapDrop         StrSlice
	CgroupnsMode    string
	DNS             []string `json:"Dns"`
	DNSOptions      []string `json:"DnsOptions"`
	DNSSearch       []string `json:"DnsSearch"`
	ExtraHosts      []string
	GroupAdd        []string
	IpcMode         string
	Cgroup          string
	Links           []string
	OomScoreAdj     int
	PidMode         string
	Privileged      bool
	PublishAllPorts bool
	ReadonlyRootfs  bool
	SecurityOpt     []string
	StorageOpt      map[string]string `json:",omitempty"`
	Tmpfs           map[string]string `json:",omitempty"`
	UTSMode         string
	UsernsMode      string
	ShmSize         int64
	Sysctls         map[string]string `json:",omitempty"`
	Runtime         string            `json:",omitempty"`
	ConsoleSize     [2]uint
	Isolation       string
	Resources
	Mounts        []mount.Spec `json:",omitempty"`
	MaskedPaths   []string
	ReadonlyPaths []string
	Init          *bool `json:",omitempty"`
}

// Resources is HostConfig's embedded Resources: cgroup limits, none of
// which hostd implements (it has no cgroups).
type Resources struct {
	CPUShares            int64 `json:"CpuShares"`
	Memory               int64
	NanoCPUs             int64 `json:"NanoCpus"`
	CgroupParent         string
	BlkioWeight          uint16
	BlkioWeightDevice    []json.RawMessage
	BlkioDeviceReadBps   []json.RawMessage
	BlkioDeviceWriteBps  []json.RawMessage
	BlkioDeviceReadIOps  []json.RawMessage
	BlkioDeviceWriteIOps []json.RawMessage
	CPUPeriod            int64 `json:"CpuPeriod"`
	CPUQuota             int64 `json:"CpuQuota"`
	CPURealtimePeriod    int64 `json:"CpuRealtimePeriod"`
	CPURealtimeRuntime   int64 `json:"CpuRealtimeRuntime"`
	CpusetCpus           string
	CpusetMems           string
	Devices              []json.RawMessage
	DeviceCgroupRules    []string
	DeviceRequests       []json.RawMessage
	KernelMemory         int64
	KernelMemoryTCP      int64
	MemoryReservation    int64
	MemorySwap           int64
	MemorySwappiness     *int64
	OomKillDisable       *bool
	PidsLimit            *int64
	Ulimits              []json.RawMessage
	CPUCount             int64 `json:"CpuCount"`
	CPUPercent           int64 `json:"CpuPercent"`
	IOMaximumIOps        uint64
	IOMaximumBandwidth   uint64
}

// MountPoint is one of a container's mounts in inspect and ps.
type MountPoint struct {
	Type        string `json:",omitempty"`
	Name        string `json:",omitempty"`
	Source      string
	Destination string
	Driver      string `json:",omitempty"`
	Mode        string
	RW          bool
	Propagation string
}

// EndpointIPAMConfig is EndpointSettings.IPAMConfig.
type EndpointIPAMConfig struct {
	IPv4Address  string   `json:",omitempty"`
	IPv6Address  string   `json:",omitempty"`
	LinkLocalIPs []string `json:",omitempty"`
}

// EndpointSettings is a container's view of one of its networks.
type EndpointSettings struct {
	IPAMConfig          *EndpointIPAMConfig
	Links               []string
	Aliases             []string
	NetworkID           string
	EndpointID          string
	Gateway             string
	IPAddress           string
	IPPrefixLen         int
	IPv6Gateway         string
	GlobalIPv6Address   string
	GlobalIPv6PrefixLen int
	MacAddress          string
	DriverOpts          map[string]string
}

// NetworkingConfig is the create request's NetworkingConfig.
type NetworkingConfig struct {
	EndpointsConfig map[string]*EndpointSettings
}

// CreateRequest is the body of POST /containers/create.
type CreateRequest struct {
	ContainerConfig
	HostConfig       *HostConfig
	NetworkingConfig *NetworkingConfig
}

// ContainerState is inspect's State.
type ContainerState struct {
	Status     string
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
}

// NetworkSettings is inspect's NetworkSettings.
type NetworkSettings struct {
	Bridge                 string
	SandboxID              string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	Ports                  map[string][]PortBinding
	SandboxKey             string
	SecondaryIPAddresses   []string
	SecondaryIPv6Addresses []string
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*EndpointSettings
}

// GraphDriver is inspect's GraphDriver.
type GraphDriver struct {
	Data map[string]string
	Name string
}

// ContainerJSON is GET /containers/{id}/json.
type ContainerJSON struct {
	ID              string `json:"Id"`
	Created         string
	Path            string
	Args            []string
	State           ContainerState
	Image           string
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	RestartCount    int
	Driver          string
	Platform        string
	MountLabel      string
	ProcessLabel    string
	AppArmorProfile string
	ExecIDs         []string
	HostConfig      *HostConfig
	GraphDriver     GraphDriver
	Mounts          []MountPoint
	Config          *ContainerConfig
	NetworkSettings *NetworkSettings
}

// SummaryPort is one entry of a container summary's Ports: an exposed
// port, with the host address and port it is published on, if it is.
type SummaryPort struct {
	IP          string `json:",omitempty"`
	PrivatePort uint16
	PublicPort  uint16 `json:",omitempty"`
	Type        string
}

// ContainerSummary is one entry of GET /containers/json.
type ContainerSummary struct {
	ID         string `json:"Id"`
	Names      []string
	Image      string
	ImageID    string
	Command    string
	Created    int64
	Ports      []SummaryPort
	Labels     map[string]string
	State      string
	Status     string
	HostConfig struct {
		NetworkMode string
	}
	NetworkSettings struct {
		Networks map[string]*EndpointSettings
	}
	Mounts []MountPoint
}

// IPAMConfigJSON is one IPAM pool of a network.
type IPAMConfigJSON struct {
	Subnet             string            `json:",omitempty"`
	IPRange            string            `json:",omitempty"`
	Gateway            string            `json:",omitempty"`
	AuxiliaryAddresses map[string]string `json:"AuxiliaryAddresses,omitempty"`
}

// IPAMJSON is a network's IPAM.
type IPAMJSON struct {
	Driver  string
	Options map[string]string
	Config  []IPAMConfigJSON
}

// EndpointResource is one container of a network's inspect.
type EndpointResource struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

// NetworkResource is GET /networks/{id} and an entry of GET /networks.
type NetworkResource struct {
	Name       string
	ID         string `json:"Id"`
	Created    string
	Scope      string
	Driver     string
	EnableIPv6 bool
	IPAM       IPAMJSON
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigFrom struct {
		Network string
	}
	ConfigOnly bool
	Containers map[string]EndpointResource
	Options    map[string]string
	Labels     map[string]string
}

// NetworkCreateRequest is the body of POST /networks/create.
type NetworkCreateRequest struct {
	Name           string
	CheckDuplicate bool
	Driver         string
	Scope          string
	EnableIPv6     bool
	IPAM           *IPAMJSON
	Internal       bool
	Attachable     bool
	Ingress        bool
	ConfigOnly     bool
	ConfigFrom     *struct{ Network string }
	Options        map[string]string
	Labels         map[string]string
}

// NetworkConnectRequest is the body of POST /networks/{id}/connect.
type NetworkConnectRequest struct {
	Container      string
	EndpointConfig *EndpointSettings
}

// NetworkDisconnectRequest is the body of POST /networks/{id}/disconnect.
type NetworkDisconnectRequest struct {
	Container string
	Force     bool
}

// ExecConfig is the body of POST /containers/{id}/exec.
type ExecConfig struct {
	User         string
	Privileged   bool
	Tty          bool
	ConsoleSize  *[2]uint `json:",omitempty"`
	AttachStdin  bool
	AttachStderr bool
	AttachStdout bool
	Detach       bool
	DetachKeys   string
	Env          []string
	WorkingDir   string
	Cmd          StrSlice
}

// ExecStartRequest is the body of POST /exec/{id}/start.
type ExecStartRequest struct {
	Detach      bool
	Tty         bool
	ConsoleSize *[2]uint `json:",omitempty"`
}

// ProcessConfig is an exec's ProcessConfig.
type ProcessConfig struct {
	Privileged bool     `json:"privileged"`
	User       string   `json:"user,omitempty"`
	Tty        bool     `json:"tty"`
	Entrypoint string   `json:"entrypoint"`
	Arguments  []string `json:"arguments"`
}

// ExecInspect is GET /exec/{id}/json.
type ExecInspect struct {
	ID            string
	Running       bool
	ExitCode      *int
	ProcessConfig ProcessConfig
	OpenStdin     bool
	OpenStderr    bool
	OpenStdout    bool
	CanRemove     bool
	ContainerID   string
	DetachKeys    string
	Pid           int
}
