package api

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func (s *server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Docker-Experimental", "false")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, "OK")
	return err
}

// kernelVersion and machine come from uname(2).
func uname() (release, machine string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
}

func (s *server) version(w http.ResponseWriter, r *http.Request) error {
	kernel, _ := uname()
	buildTime := s.d.Started().UTC().Format(time.RFC3339)
	return writeJSON(w, http.StatusOK, map[string]any{
		"Platform": map[string]string{"Name": "nslab hostd"},
		"Components": []map[string]any{{
			"Name":    "Engine",
			"Version": engineVersion,
			"Details": map[string]string{
				"ApiVersion":    apiVersion,
				"Arch":          runtime.GOARCH,
				"BuildTime":     buildTime,
				"Experimental":  "false",
				"GitCommit":     gitCommit,
				"GoVersion":     runtime.Version(),
				"KernelVersion": kernel,
				"MinAPIVersion": minAPIVersion,
				"Os":            runtime.GOOS,
			},
		}},
		"Version":       engineVersion,
		"ApiVersion":    apiVersion,
		"MinAPIVersion": minAPIVersion,
		"GitCommit":     gitCommit,
		"GoVersion":     runtime.Version(),
		"Os":            runtime.GOOS,
		"Arch":          runtime.GOARCH,
		"KernelVersion": kernel,
		"BuildTime":     buildTime,
	})
}

// operatingSystem is PRETTY_NAME from os-release, as dockerd reports it.
func operatingSystem() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func (s *server) info(w http.ResponseWriter, r *http.Request) error {
	d := s.d
	total, running, stopped := d.ContainerCounts()
	kernel, machine := uname()
	info := fixedInfo()
	for k, v := range map[string]any{
		"ID":                d.DaemonID(),
		"Containers":        total,
		"ContainersRunning": running,
		"ContainersStopped": stopped,
		"Images":            d.Images().Len(),
		"Plugins":           map[string]any{"Volume": []string{}, "Network": d.Controller().DriverNames(), "Authorization": nil, "Log": []string{"json-file"}},
		"NFd":               countFDs(),
		"NGoroutines":       runtime.NumGoroutine(),
		"NEventsListener":   d.Events().Listeners(),
		"SystemTime":        time.Now().Format(time.RFC3339Nano),
		"KernelVersion":     kernel,
		"OperatingSystem":   operatingSystem(),
		"Architecture":      machine,
		"NCPU":              runtime.NumCPU(),
		"MemTotal":          memTotal(),
		"DockerRootDir":     d.Config().DataRoot,
		"Name":              d.Hostname(),
	} {
		info[k] = v
	}
	// Docker 20.10 shows them only when set (`docker info`: Cluster Store,
	// Cluster Advertise).
	if d.Config().ClusterStore != "" {
		info["ClusterStore"] = d.Config().ClusterStore
		info["ClusterAdvertise"] = d.Config().ClusterAdvertise
	}
	return writeJSON(w, http.StatusOK, info)
}

// fixedInfo is the part of /info that is the same on every host and at
// every moment: what hostd is (and is not) in Docker's words.
func fixedInfo() map[string]any {
	return map[string]any{
		"ContainersPaused":   0,
		"Driver":             "nslab",
		"DriverStatus":       [][2]string{},
		"MemoryLimit":        false,
		"SwapLimit":          false,
		"KernelMemory":       false,
		"CpuCfsPeriod":       false,
		"CpuCfsQuota":        false,
		"CPUShares":          false,
		"CPUSet":             false,
		"PidsLimit":          false,
		"IPv4Forwarding":     true,
		"BridgeNfIptables":   false,
		"BridgeNfIp6tables":  false,
		"Debug":              false,
		"OomKillDisable":     false,
		"LoggingDriver":      "json-file",
		"CgroupDriver":       "none",
		"CgroupVersion":      "",
		"OSVersion":          "",
		"OSType":             "linux",
		"IndexServerAddress": "https://index.docker.io/v1/",
		"RegistryConfig":     nil,
		"GenericResources":   nil,
		"HttpProxy":          "",
		"HttpsProxy":         "",
		"NoProxy":            "",
		"Labels":             []string{},
		"ExperimentalBuild":  false,
		"ServerVersion":      engineVersion,
		"Runtimes":           map[string]any{"nslab": map[string]string{"path": "hostd"}},
		"DefaultRuntime":     "nslab",
		"Swarm":              map[string]any{"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": nil},
		"LiveRestoreEnabled": false,
		"Isolation":          "",
		"InitBinary":         "",
		"ContainerdCommit":   map[string]string{"ID": "", "Expected": ""},
		"RuncCommit":         map[string]string{"ID": "", "Expected": ""},
		"InitCommit":         map[string]string{"ID": "", "Expected": ""},
		"SecurityOptions":    []string{},
		"Warnings":           nil,
	}
}

func countFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
