package oci

import (
	"errors"
	"testing"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/rootfs"
)

func TestCapabilities(t *testing.T) {
	if m, err := Capabilities(&types.HostConfig{Privileged: true}); err != nil || m != rootfs.AllCapabilities {
		t.Errorf("privileged: %x %v", m, err)
	}
	m, err := Capabilities(&types.HostConfig{CapAdd: []string{"net_admin"}, CapDrop: []string{"CAP_CHOWN"}})
	if err != nil || m&(1<<12) == 0 || m&1 != 0 || m&^(1<<12) != rootfs.DefaultCapabilities&^1 {
		t.Errorf("--cap-add NET_ADMIN --cap-drop CHOWN: %x %v", m, err)
	}
	if _, err := Capabilities(&types.HostConfig{CapAdd: []string{"NOPE"}}); err == nil {
		t.Error("an unknown capability was accepted")
	}
}

func TestCheckSysctls(t *testing.T) {
	if err := CheckSysctls(&types.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}}); err != nil {
		t.Error(err)
	}
	var re *rootfs.Error
	for _, hc := range []types.HostConfig{
		{NetworkMode: "host", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}},
		{Sysctls: map[string]string{"vm.swappiness": "1"}},
		{Sysctls: map[string]string{"../x": "1"}},
	} {
		if err := CheckSysctls(&hc); !errors.As(err, &re) || re.Kind != rootfs.ErrSetup {
			t.Errorf("%v %v: %v", hc.NetworkMode, hc.Sysctls, err)
		}
	}
}
