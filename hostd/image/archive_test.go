package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testdata/docker-20.10-save holds what a real dockerd 20.10.24 wrote for
// `docker save -o x.tar alpine:latest busybox:latest` of a two-layer image
// built by its classic builder: the config, the manifest, repositories
// and each layer directory's json (the layer tars left out).
const dockerSave = "testdata/docker-20.10-save"

const (
	dockerImageID = "sha256:b0c976e610c3b4838722f60ac425a76ae8e38cc3b18492071f4e25287d6e6f19"
	dockerLower   = "eb050d79a18ae281248abaeb2ffcdd2ba72ac7a65c0abfa7c02ff8786a2162a1"
	dockerTop     = "21c0d56c370ef55e544d010e18f67f4398d289025d0ef58e0c7c8405f9e12829"
)

// TestWriteArchiveAsDocker saves the image Docker saved and compares
// every file but the layer tars byte for byte: the legacy layer IDs,
// their json, manifest.json and repositories.
func TestWriteArchiveAsDocker(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(dockerSave, dockerImageID[7:]+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if Digest(raw) != dockerImageID {
		t.Fatal("testdata: the config is not the image's")
	}
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{dir: t.TempDir()}
	// The layers' content does not enter what is compared: stand-ins.
	for _, d := range c.RootFS.DiffIDs {
		os.MkdirAll(s.layerDir(d), 0o755)
		os.WriteFile(s.LayerTar(d), []byte("stand-in for "+d), 0o644)
	}
	var buf bytes.Buffer
	img := &Image{ID: dockerImageID, Config: c, Raw: raw}
	if err := s.WriteArchive(&buf, []SaveItem{{Image: img, Tags: []string{"alpine:latest", "busybox:latest"}}}); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	var order []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = b
		order = append(order, h.Name)
	}
	want := map[string]string{
		"manifest.json":                     "manifest.json",
		"repositories":                      "repositories",
		dockerImageID[7:] + ".json":         dockerImageID[7:] + ".json",
		dockerLower + "/json":               dockerLower + ".layer.json",
		dockerTop + "/json":                 dockerTop + ".layer.json",
		dockerLower + "/" + legacyVersion:   "",
		dockerTop + "/" + legacyLayerFile:   "",
		dockerLower + "/" + legacyLayerFile: "",
	}
	for name, file := range want {
		b, ok := got[name]
		if !ok {
			t.Errorf("the archive lacks %s (has %v)", name, order)
			continue
		}
		if file == "" {
			continue
		}
		w, _ := os.ReadFile(filepath.Join(dockerSave, file))
		if !bytes.Equal(b, w) {
			t.Errorf("%s:\n got %s\nwant %s", name, b, w)
		}
	}
	// Docker's order: a directory walk of its temporary directory.
	wantOrder := []string{dockerTop + "/", dockerTop + "/VERSION", dockerTop + "/json", dockerTop + "/layer.tar", dockerImageID[7:] + ".json",
		dockerLower + "/", dockerLower + "/VERSION", dockerLower + "/json", dockerLower + "/layer.tar", "manifest.json", "repositories"}
	if len(order) != len(wantOrder) {
		t.Fatalf("entries %v", order)
	}
	for i := range order {
		if order[i] != wantOrder[i] {
			t.Fatalf("entries %v, want %v", order, wantOrder)
		}
	}
}
