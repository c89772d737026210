package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/hostd/image"
)

// appArchive writes, by hand, the `docker save` archive of one image of
// one layer tagged cmd/app:1.
func appArchive(t *testing.T) string {
	t.Helper()
	files := func(fs ...[2]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, f := range fs {
			tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1]))})
			tw.Write([]byte(f[1]))
		}
		tw.Close()
		return buf.Bytes()
	}
	layer := files([2]string{"opt/app", "app"})
	sum := sha256.Sum256(layer)
	config := `{"os":"linux","config":{"Cmd":["/opt/app"]},"rootfs":{"type":"layers","diff_ids":["sha256:` + hex.EncodeToString(sum[:]) + `"]}}`
	p := filepath.Join(t.TempDir(), "app.tar")
	if err := os.WriteFile(p, files([2]string{"l/layer.tar", string(layer)}, [2]string{"c.json", config},
		[2]string{"manifest.json", `[{"Config":"c.json","RepoTags":["cmd/app:1"],"Layers":["l/layer.tar"]}]`}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// `nslab up --images` gives the lab's hosts an archive's image beside the
// default one; `nslab images` shows which hosts have them, `nslab images
// clean` keeps what a lab uses and removes the rest once it is down.
func TestImagesCommand(t *testing.T) {
	needRoot(t)
	t.Setenv("NSLAB_LAB", "")
	t.Setenv(image.StoreEnv, filepath.Join(t.TempDir(), "store"))
	bin, root, id := freshLab(t, "img")
	at := []string{"--root", root}
	mustNslab(t, bin, append(at, "up", "--detach", "--id", id, "--images", appArchive(t), "../../fixtures/single.yaml")...)
	if out := mustNslab(t, bin, append(at, "docker", "host1", "--", "images", "--format", "{{.Repository}}:{{.Tag}}", "cmd/app")...).stdout; out != "cmd/app:1\n" {
		t.Errorf("the host's images: %q", out)
	}
	out := mustNslab(t, bin, append(at, "images")...).stdout
	if strings.Count(out, id+"/host1") != 2 || !strings.Contains(out, ": 2 images, 2 layers") {
		t.Errorf("nslab images:\n%s", out)
	}
	if out := mustNslab(t, bin, append(at, "images", "clean")...).stdout; !strings.HasPrefix(out, "removed 0 images and 0 layers") {
		t.Errorf("clean while the lab is up: %q", out)
	}
	if r := nslab(t, bin, append(at, "images", "clean", "--all")...); r.code != 1 || !strings.Contains(r.stderr, id) {
		t.Errorf("clean --all while the lab is up: status %d, %q", r.code, r.stderr)
	}
	seen := procsIn(id)
	mustNslab(t, bin, append(at, "down")...)
	assertGone(t, root, id, seen)
	if out := mustNslab(t, bin, append(at, "images", "clean")...).stdout; !strings.HasPrefix(out, "removed 2 images and 2 layers") {
		t.Errorf("clean after down: %q", out)
	}
}
