package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
)

// A value of each field hostd refuses, as a client sends it.
var refusedExamples = map[string]string{
	"RestartPolicy":          `"RestartPolicy": {"Name": "unless-stopped"}`,
	"LogConfig.Type":         `"LogConfig": {"Type": "syslog"}`,
	"LogConfig.Config":       `"LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}`,
	"CgroupnsMode":           `"CgroupnsMode": "private"`,
	"IpcMode":                `"IpcMode": "container:other"`,
	"Cgroup":                 `"Cgroup": "container:other"`,
	"OomScoreAdj":            `"OomScoreAdj": -500`,
	"PidMode":                `"PidMode": "host"`,
	"SecurityOpt":            `"SecurityOpt": ["seccomp=unconfined", "no-new-privileges"]`,
	"StorageOpt":             `"StorageOpt": {"size": "1G"}`,
	"UTSMode":                `"UTSMode": "host"`,
	"UsernsMode":             `"UsernsMode": "private"`,
	"Runtime":                `"Runtime": "runsc"`,
	"Isolation":              `"Isolation": "hyperv"`,
	"CpuShares":              `"CpuShares": 512`,
	"Memory":                 `"Memory": 67108864`,
	"NanoCpus":               `"NanoCpus": 500000000`,
	"CgroupParent":           `"CgroupParent": "/mine"`,
	"BlkioWeight":            `"BlkioWeight": 300`,
	"BlkioWeightDevice":      `"BlkioWeightDevice": [{"Path": "/dev/vda", "Weight": 300}]`,
	"BlkioDeviceReadBps":     `"BlkioDeviceReadBps": [{"Path": "/dev/vda", "Rate": 1024}]`,
	"BlkioDeviceWriteBps":    `"BlkioDeviceWriteBps": [{"Path": "/dev/vda", "Rate": 1024}]`,
	"BlkioDeviceReadIOps":    `"BlkioDeviceReadIOps": [{"Path": "/dev/vda", "Rate": 10}]`,
	"BlkioDeviceWriteIOps":   `"BlkioDeviceWriteIOps": [{"Path": "/dev/vda", "Rate": 10}]`,
	"CpuPeriod":              `"CpuPeriod": 100000`,
	"CpuQuota":               `"CpuQuota": 50000`,
	"CpuRealtimePeriod":      `"CpuRealtimePeriod": 1000`,
	"CpuRealtimeRuntime":     `"CpuRealtimeRuntime": 950`,
	"CpusetCpus":             `"CpusetCpus": "0"`,
	"CpusetMems":             `"CpusetMems": "0"`,
	"Devices":                `"Devices": [{"PathOnHost": "/dev/vda", "PathInContainer": "/dev/vda", "CgroupPermissions": "rwm"}]`,
	"DeviceCgroupRules":      `"DeviceCgroupRules": ["b 254:* rwm"]`,
	"DeviceRequests":         `"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]`,
	"KernelMemory":           `"KernelMemory": 4194304`,
	"KernelMemoryTCP":        `"KernelMemoryTCP": 4194304`,
	"MemoryReservation":      `"MemoryReservation": 4194304`,
	"MemorySwap":             `"MemorySwap": 134217728`,
	"MemorySwappiness":       `"MemorySwappiness": 10`,
	"OomKillDisable":         `"OomKillDisable": true`,
	"PidsLimit":              `"PidsLimit": 100`,
	"Ulimits":                `"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 1024}]`,
	"CpuCount":               `"CpuCount": 1`,
	"CpuPercent":             `"CpuPercent": 50`,
	"IOMaximumIOps":          `"IOMaximumIOps": 100`,
	"IOMaximumBandwidth":     `"IOMaximumBandwidth": 1048576`,
	"Init":                   `"Init": true`,
	"Config.Healthcheck":     `"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000}`,
	"Config.NetworkDisabled": `"NetworkDisabled": true`,
}

// Every field of the table is refused, naming its flag, when set; the
// request with every field at the value clients send by default passes.
func TestRefusalTable(t *testing.T) {
	for _, u := range unsupportedOptions {
		ex, ok := refusedExamples[u.field]
		if !ok {
			t.Errorf("%s: no example in the test", u.field)
			continue
		}
		body := `{"Image": "alpine", "HostConfig": {` + ex + `}}`
		if strings.HasPrefix(u.field, "Config.") {
			body = `{"Image": "alpine", ` + ex + `}`
		}
		var req types.CreateRequest
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatalf("%s: %v", u.field, err)
		}
		err := refuseUnsupported([]byte(body), &req)
		if code, msg := errdefs.Status(err); err == nil || code != 400 || !strings.Contains(msg, u.flag) {
			t.Errorf("%s: %v, want a 400 naming %s", u.field, err, u.flag)
		}
	}
	cli := cliRunBody
	var req types.CreateRequest
	if err := json.Unmarshal([]byte(cli), &req); err != nil {
		t.Fatal(err)
	}
	if err := refuseUnsupported([]byte(cli), &req); err != nil {
		t.Errorf("the CLI's defaults: %v", err)
	}
	// A field of a newer API that hostd does not know is refused too.
	newer := `{"Image": "alpine", "HostConfig": {"Annotations": {"a": "b"}}}`
	json.Unmarshal([]byte(newer), &req)
	if err := refuseUnsupported([]byte(newer), &req); err == nil || !strings.Contains(err.Error(), "HostConfig.Annotations") {
		t.Errorf("an unknown field: %v", err)
	}
}

// cliRunBody is what the docker CLI 28 sends for `docker run alpine` (API
// 1.41).
const cliRunBody = `{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"alpine","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[24,80],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{}}}`

// A create body hostd's types know entirely is decoded once and needs no
// check of unknown fields; any other is decoded again and checked, and a
// body that is no JSON is Docker's 400.
func TestDecodeCreate(t *testing.T) {
	for _, c := range []struct {
		body  string
		known bool
	}{
		{cliRunBody, true},
		{`{"Image": "alpine", "HostConfig": {"Annotations": null}}`, false},
		{`{"Image": "alpine", "HostConfig": {"Annotations": {"a": "b"}}}`, false},
	} {
		req, known, err := decodeCreate([]byte(c.body))
		if err != nil || known != c.known || req.Image != "alpine" {
			t.Errorf("%.60s: image %q, known %v, %v; want alpine, known %v", c.body, req.Image, known, err, c.known)
		}
	}
	for body, want := range map[string]string{
		"":                "Config cannot be empty in order to create a container",
		`{"Image": 1}`:    "cannot unmarshal",
		`{"Image": "alpi`: "unexpected EOF",
	} {
		_, _, err := decodeCreate([]byte(body))
		if code, msg := errdefs.Status(err); code != 400 || !strings.Contains(msg, want) {
			t.Errorf("%q: %d %q, want a 400 with %q", body, code, msg, want)
		}
	}
}
