// Package merge completes a container's configuration with its image's,
// as Docker's create does before it stores the container: the image's
// defaults fill what the container leaves unset, its sets and variables
// are added to the container's.
package merge

import (
	"strings"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/image"
)

// ImageConfig completes a container's config with its image's as
// Docker's merge does: User, WorkingDir, StopSignal and Healthcheck when
// the container sets none, ExposedPorts, Volumes and Labels added, Env by
// key, and Entrypoint and Cmd as a pair: an Entrypoint given at create
// drops the image's Cmd.
func ImageConfig(cfg *types.ContainerConfig, img *image.ContainerConfig) error {
	if cfg.User == "" {
		cfg.User = img.User
	}
	cfg.ExposedPorts = mergeSet(cfg.ExposedPorts, img.ExposedPorts)
	cfg.Env = mergeEnvByKey(cfg.Env, img.Env)
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	for k, v := range img.Labels {
		if _, ok := cfg.Labels[k]; !ok {
			cfg.Labels[k] = v
		}
	}
	if len(cfg.Entrypoint) == 0 {
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = img.Cmd
			cfg.ArgsEscaped = img.ArgsEscaped
		}
		// An empty Entrypoint given at create (--entrypoint "") clears
		// the image's; none given takes it.
		if cfg.Entrypoint == nil {
			cfg.Entrypoint = img.Entrypoint
		}
	}
	if img.Healthcheck != nil && cfg.Healthcheck == nil {
		hc := *img.Healthcheck
		cfg.Healthcheck = &hc
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = img.WorkingDir
	}
	cfg.Volumes = mergeSet(cfg.Volumes, img.Volumes)
	if cfg.StopSignal == "" {
		cfg.StopSignal = img.StopSignal
	}
	if len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "" {
		cfg.Entrypoint = nil
	}
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return errdefs.BadRequest("No command specified")
	}
	return nil
}

// mergeSet adds the image's keys to the container's set (ports, volumes).
func mergeSet(own, img map[string]struct{}) map[string]struct{} {
	if len(own) == 0 {
		return img
	}
	for k := range img {
		own[k] = struct{}{}
	}
	return own
}

// mergeEnvByKey appends the image's variables whose names the container
// does not set.
func mergeEnvByKey(own, img []string) []string {
	if len(own) == 0 {
		return img
	}
	for _, kv := range img {
		key, _, _ := strings.Cut(kv, "=")
		found := false
		for _, o := range own {
			k, _, _ := strings.Cut(o, "=")
			found = found || k == key
		}
		if !found {
			own = append(own, kv)
		}
	}
	return own
}
