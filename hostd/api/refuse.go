package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/image"
)

// An option hostd does not implement is refused by name, never accepted
// and ignored: a create request with a non-zero value of such a field is a
// 400 naming the option as the user typed it, and nothing is created. A
// zero value (what the CLI, Compose and the Go SDK send by default) passes.

// unsupported is one field hostd refuses, with the option the CLI sets it
// with and the test of a value that does not ask for anything.
type unsupported struct {
	field string // Docker's JSON name, under HostConfig unless Config.
	flag  string
	unset func(h *types.HostConfig, c *types.ContainerConfig) bool
}

func noString(s string, ok ...string) bool { return s == "" || slices.Contains(ok, s) }

// unsupportedOptions are Docker 20.10's create options that hostd does
// not do. It has no cgroups (every resource limit), no seccomp, AppArmor or
// SELinux, no user namespaces, no health checks, no restart policies, and
// joins no other container's PID, IPC or UTS namespace.
var unsupportedOptions = []unsupported{
	{"RestartPolicy", "--restart", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		return noString(h.RestartPolicy.Name, "no") && h.RestartPolicy.MaximumRetryCount == 0
	}},
	{"LogConfig.Type", "--log-driver", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		return noString(h.LogConfig.Type, "json-file")
	}},
	{"LogConfig.Config", "--log-opt", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.LogConfig.Config) == 0 }},
	{"CgroupnsMode", "--cgroupns", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return noString(h.CgroupnsMode, "host") }},
	{"IpcMode", "--ipc", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		return noString(h.IpcMode, "private", "shareable")
	}},
	{"Cgroup", "--cgroup", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.Cgroup == "" }},
	{"OomScoreAdj", "--oom-score-adj", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.OomScoreAdj == 0 }},
	{"PidMode", "--pid", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.PidMode == "" }},
	{"SecurityOpt", "--security-opt", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		// Turning off confinement hostd does not have is what it does.
		for _, o := range h.SecurityOpt {
			if !slices.Contains([]string{"seccomp=unconfined", "seccomp:unconfined", "apparmor=unconfined", "apparmor:unconfined", "label=disable", "label:disable"}, o) {
				return false
			}
		}
		return true
	}},
	{"StorageOpt", "--storage-opt", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.StorageOpt) == 0 }},
	{"UTSMode", "--uts", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.UTSMode == "" }},
	{"UsernsMode", "--userns", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return noString(h.UsernsMode, "host") }},
	{"Runtime", "--runtime", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return noString(h.Runtime, "runc") }},
	{"Isolation", "--isolation", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return noString(h.Isolation, "default") }},
	{"CpuShares", "--cpu-shares", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CPUShares == 0 }},
	{"Memory", "--memory", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.Memory == 0 }},
	{"NanoCpus", "--cpus", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.NanoCPUs == 0 }},
	{"CgroupParent", "--cgroup-parent", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CgroupParent == "" }},
	{"BlkioWeight", "--blkio-weight", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.BlkioWeight == 0 }},
	{"BlkioWeightDevice", "--blkio-weight-device", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.BlkioWeightDevice) == 0 }},
	{"BlkioDeviceReadBps", "--device-read-bps", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.BlkioDeviceReadBps) == 0 }},
	{"BlkioDeviceWriteBps", "--device-write-bps", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.BlkioDeviceWriteBps) == 0 }},
	{"BlkioDeviceReadIOps", "--device-read-iops", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.BlkioDeviceReadIOps) == 0 }},
	{"BlkioDeviceWriteIOps", "--device-write-iops", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.BlkioDeviceWriteIOps) == 0 }},
	{"CpuPeriod", "--cpu-period", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CPUPeriod == 0 }},
	{"CpuQuota", "--cpu-quota", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CPUQuota == 0 }},
	{"CpuRealtimePeriod", "--cpu-rt-period", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CPURealtimePeriod == 0 }},
	{"CpuRealtimeRuntime", "--cpu-rt-runtime", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CPURealtimeRuntime == 0 }},
	{"CpusetCpus", "--cpuset-cpus", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CpusetCpus == "" }},
	{"CpusetMems", "--cpuset-mems", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CpusetMems == "" }},
	{"Devices", "--device", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.Devices) == 0 }},
	{"DeviceCgroupRules", "--device-cgroup-rule", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.DeviceCgroupRules) == 0 }},
	{"DeviceRequests", "--gpus", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.DeviceRequests) == 0 }},
	{"KernelMemory", "--kernel-memory", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.KernelMemory == 0 }},
	{"KernelMemoryTCP", "HostConfig.KernelMemoryTCP", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.KernelMemoryTCP == 0 }},
	{"MemoryReservation", "--memory-reservation", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.MemoryReservation == 0 }},
	{"MemorySwap", "--memory-swap", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		return h.MemorySwap == 0 || h.MemorySwap == -1
	}},
	{"MemorySwappiness", "--memory-swappiness", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		return h.MemorySwappiness == nil || *h.MemorySwappiness == -1
	}},
	{"OomKillDisable", "--oom-kill-disable", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		return h.OomKillDisable == nil || !*h.OomKillDisable
	}},
	{"PidsLimit", "--pids-limit", func(h *types.HostConfig, _ *types.ContainerConfig) bool {
		return h.PidsLimit == nil || *h.PidsLimit <= 0
	}},
	{"Ulimits", "--ulimit", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return len(h.Ulimits) == 0 }},
	{"CpuCount", "--cpu-count", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CPUCount == 0 }},
	{"CpuPercent", "--cpu-percent", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.CPUPercent == 0 }},
	{"IOMaximumIOps", "--io-maxiops", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.IOMaximumIOps == 0 }},
	{"IOMaximumBandwidth", "--io-maxbandwidth", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.IOMaximumBandwidth == 0 }},
	{"Init", "--init", func(h *types.HostConfig, _ *types.ContainerConfig) bool { return h.Init == nil || !*h.Init }},
	{"Config.Healthcheck", "--health-cmd", func(_ *types.HostConfig, c *types.ContainerConfig) bool { return healthUnset(c.Healthcheck) }},
	{"Config.NetworkDisabled", "Config.NetworkDisabled", func(_ *types.HostConfig, c *types.ContainerConfig) bool { return !c.NetworkDisabled }},
}

// healthUnset reports whether a create's Healthcheck asks for nothing
// (absent, or --no-healthcheck's NONE: no check is what hostd does).
func healthUnset(h *image.HealthConfig) bool {
	if h == nil {
		return true
	}
	none := len(h.Test) == 0 || (len(h.Test) == 1 && h.Test[0] == "NONE")
	return none && h.Interval == 0 && h.Timeout == 0 && h.StartPeriod == 0 && h.Retries == 0
}

func errUnsupported(flag, field string) error {
	if !strings.HasPrefix(field, "Config.") {
		field = "HostConfig." + field
	}
	if flag == field {
		return errdefs.BadRequest("%s is not supported by nslab's hostd; the container was not created", field)
	}
	return errdefs.BadRequest("%s (%s) is not supported by nslab's hostd; the container was not created", flag, field)
}

// refuseUnsupported checks a decoded create request against the table
// (refuseOptions), then the raw body for fields hostd does not know at all
// (a newer API's): those must be zero too.
func refuseUnsupported(body []byte, req *types.CreateRequest) error {
	if err := refuseOptions(req); err != nil {
		return err
	}
	return refuseUnknownFields(body)
}

// refuseOptions checks a decoded create request against the table.
func refuseOptions(req *types.CreateRequest) error {
	hc := req.HostConfig
	if hc == nil {
		hc = &types.HostConfig{}
	}
	for _, u := range unsupportedOptions {
		if !u.unset(hc, &req.ContainerConfig) {
			return errUnsupported(u.flag, u.field)
		}
	}
	return nil
}

// refuseUnknownFields finds non-zero fields of the body (and of its
// HostConfig) that hostd's types do not have.
func refuseUnknownFields(body []byte) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil // the typed decode said what is wrong already
	}
	var hc map[string]json.RawMessage
	json.Unmarshal(top["HostConfig"], &hc)
	known := knownFields()
	for _, part := range []struct {
		prefix string
		fields map[string]json.RawMessage
		known  map[string]bool
	}{{"Config.", top, known.config}, {"HostConfig.", hc, known.host}} {
		var names []string
		for name, v := range part.fields {
			if !part.known[name] && !zeroJSON(v) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		if len(names) > 0 {
			return errdefs.BadRequest("%s%s is not supported by nslab's hostd; the container was not created", part.prefix, names[0])
		}
	}
	return nil
}

// zeroJSON reports whether a JSON value is null, false, 0, "", [] or {}.
func zeroJSON(v json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(v)); s {
	case "", "null", "false", "0", `""`, "[]", "{}":
		return true
	}
	return false
}

var knownFieldsOnce = sync.OnceValue(func() struct{ config, host map[string]bool } {
	return struct{ config, host map[string]bool }{
		config: jsonNames(reflect.TypeOf(types.CreateRequest{})),
		host:   jsonNames(reflect.TypeOf(types.HostConfig{})),
	}
})

func knownFields() struct{ config, host map[string]bool } { return knownFieldsOnce() }

// jsonNames lists the JSON names of a struct's fields, embedded ones
// included, as encoding/json names them.
func jsonNames(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for n := range jsonNames(f.Type) {
				out[n] = true
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}
