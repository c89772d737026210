package merge

import (
	"reflect"
	"testing"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/image"
)

func TestImageConfig(t *testing.T) {
	img := &image.ContainerConfig{User: "nobody", Env: []string{"PATH=/bin", "MODE=image"},
		Cmd: []string{"hello"}, Entrypoint: []string{"/bin/echo"}, StopSignal: "SIGINT"}
	cfg := &types.ContainerConfig{Env: []string{"MODE=user"}, User: "root"}
	if err := ImageConfig(cfg, img); err != nil {
		t.Fatal(err)
	}
	if cfg.User != "root" || !reflect.DeepEqual(cfg.Env, []string{"MODE=user", "PATH=/bin"}) ||
		!reflect.DeepEqual([]string(cfg.Cmd), []string{"hello"}) || cfg.StopSignal != "SIGINT" {
		t.Errorf("merged: %+v", cfg)
	}
	// An Entrypoint given at create drops the image's Cmd.
	cfg = &types.ContainerConfig{Entrypoint: []string{"/bin/cat"}}
	if err := ImageConfig(cfg, img); err != nil || cfg.Cmd != nil {
		t.Errorf("Entrypoint given: %v %+v", err, cfg)
	}
	// --entrypoint "" with an image that has no Cmd leaves nothing to run.
	cfg = &types.ContainerConfig{Entrypoint: []string{""}}
	err := ImageConfig(cfg, &image.ContainerConfig{})
	if code, _ := errdefs.Status(err); code != 400 {
		t.Errorf("no command: %d %v", code, err)
	}
}
