package hostd

import (
	"encoding/json"
	"fmt"
	"os"
)

// Config is what the lab tells one hostd about its virtual host. The lab
// writes it as JSON to <Root>/hostd.json and starts `nslab hostd --config
// <Root>/hostd.json` inside the host's network namespace and a new UTS
// namespace. Later issues add fields (default bridge subnet, firewall
// backend, etcd membership); every field has a usable zero value.
type Config struct {
	// Lab is the lab id; every name hostd makes outside its own
	// namespaces carries it.
	Lab string `json:"lab"`
	// Host is the virtual host's name; hostd sets it as the hostname of
	// its UTS namespace.
	Host string `json:"host"`
	// Root is the host's state directory (/run/nslab/<lab>/<host>):
	// container files (hosts, resolv.conf, hostname) and logs live below it.
	Root string `json:"root"`
	// Socket is the unix socket path of the Docker Engine API.
	Socket string `json:"socket"`
	// NetNSPrefix prefixes the /run/netns pin of every container's network
	// namespace: "<lab>-<host>-", so a container cm01 is at
	// /run/netns/<lab>-<host>-cm01.
	NetNSPrefix string `json:"netnsPrefix"`
	// DNS lists the resolvers containers may use outside the embedded DNS.
	// Only addresses inside the lab belong here: nothing may ever be sent
	// to a resolver outside it.
	DNS []string `json:"dns,omitempty"`
}

// LoadConfig reads and checks a hostd configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hostd config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("hostd config %s: %w", path, err)
	}
	switch {
	case c.Lab == "":
		return nil, fmt.Errorf("hostd config %s: lab is empty", path)
	case c.Host == "":
		return nil, fmt.Errorf("hostd config %s: host is empty", path)
	case c.Root == "" || c.Socket == "":
		return nil, fmt.Errorf("hostd config %s: root and socket are required", path)
	}
	if c.NetNSPrefix == "" {
		c.NetNSPrefix = c.Lab + "-" + c.Host + "-"
	}
	return &c, nil
}

// Write stores the configuration at path.
func (c *Config) Write(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
