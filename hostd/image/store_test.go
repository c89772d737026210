package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("the default image is built from Debian's busybox-static: %v", err)
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDefaultImageDeterministic builds the default image twice, the
// second time from a copy of busybox elsewhere: the same ID.
func TestDefaultImageDeterministic(t *testing.T) {
	needBusybox(t)
	a, err := BuildDefault(DefaultSource{})
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "busybox")
	bin, _ := os.ReadFile(BusyboxPath)
	st, _ := os.Stat(BusyboxPath)
	if err := os.WriteFile(cp, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(cp, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	b, err := BuildDefault(DefaultSource{Busybox: cp})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.DiffID != b.DiffID || !bytes.Equal(a.Layer, b.Layer) {
		t.Fatalf("two builds differ: %s %s / %s %s", a.ID, a.DiffID, b.ID, b.DiffID)
	}
	if Digest(a.Config) != a.ID || Digest(a.Layer) != a.DiffID {
		t.Fatal("the IDs are not the digests of the blobs")
	}
	c, err := ParseConfig(a.Config)
	if err != nil {
		t.Fatal(err)
	}
	rc := c.RunConfig()
	if strings.Join(rc.Cmd, " ") != "/bin/sh" || len(rc.Env) != 1 || rc.Env[0] != "PATH="+DefaultPath || c.OS != "linux" || !c.Created.Equal(st.ModTime().Truncate(time.Second)) {
		t.Fatalf("config %s", a.Config)
	}
}

// TestDefaultImageTree unpacks the default image into a store and looks
// at the tree a container would see.
func TestDefaultImageTree(t *testing.T) {
	needRoot(t)
	needBusybox(t)
	s := newStore(t)
	l, err := s.EnsureDefault(DefaultSource{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(l.Tags, " ") != "alpine:latest busybox:latest" {
		t.Errorf("tags %v", l.Tags)
	}
	img, err := s.Image(l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 || img.Size < 1<<20 {
		t.Fatalf("image %+v", img)
	}
	tree := img.Layers[0]
	want := map[string]uint32{"bin/busybox": unix.S_IFREG | 0o755, "tmp": unix.S_IFDIR | 0o1777, "root": unix.S_IFDIR | 0o700,
		"home": unix.S_IFDIR | 0o755, "var": unix.S_IFDIR | 0o755, "etc/passwd": unix.S_IFREG | 0o644, "bin/sh": unix.S_IFLNK | 0o777,
		"sbin/ip": unix.S_IFLNK | 0o777, "usr/bin/nc": unix.S_IFLNK | 0o777}
	for p, mode := range want {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(tree, p), &st); err != nil || st.Mode != mode {
			t.Errorf("%s: mode %o, want %o (%v)", p, st.Mode, mode, err)
		}
	}
	if l, _ := os.Readlink(filepath.Join(tree, "bin/sh")); l != "/bin/busybox" {
		t.Errorf("bin/sh -> %q", l)
	}
	for p, want := range map[string]string{"etc/passwd": "nobody:x:65534:65534:", "etc/group": "root:x:0:", "etc/os-release": "ID=nslab-busybox"} {
		if b, _ := os.ReadFile(filepath.Join(tree, p)); !strings.Contains(string(b), want) {
			t.Errorf("%s: %q lacks %q", p, b, want)
		}
	}
	// The tar kept beside the tree has the diff ID: docker save writes it.
	tb, _ := os.ReadFile(s.LayerTar(img.Config.RootFS.DiffIDs[0]))
	if Digest(tb) != img.Config.RootFS.DiffIDs[0] {
		t.Error("the stored layer.tar does not have its diff ID")
	}
	again, err := s.EnsureDefault(DefaultSource{})
	if err != nil || again.ID != l.ID {
		t.Fatalf("again: %v %v", again, err)
	}
}

// TestDefaultImageRemembered: once built, the default image comes from the
// store's record without running busybox again, until the binary is
// another file or changed, or the image left the store.
func TestDefaultImageRemembered(t *testing.T) {
	needRoot(t)
	needBusybox(t)
	s := newStore(t)
	cp := filepath.Join(t.TempDir(), "busybox")
	bin, _ := os.ReadFile(BusyboxPath)
	if err := os.WriteFile(cp, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	runs := 0
	src := DefaultSource{Busybox: cp, Output: func(c *exec.Cmd) ([]byte, error) { runs++; return c.Output() }}
	ensure := func(want int, why string) Loaded {
		t.Helper()
		runs = 0
		l, err := s.EnsureDefault(src)
		if err != nil {
			t.Fatal(err)
		}
		if runs != want {
			t.Errorf("%s: busybox ran %d times, want %d", why, runs, want)
		}
		return l
	}
	first := ensure(2, "first build")
	if again := ensure(0, "same binary"); again.ID != first.ID || len(again.Tags) != 2 {
		t.Errorf("remembered %+v, built %+v", again, first)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(cp, later, later); err != nil {
		t.Fatal(err)
	}
	if ensure(2, "binary touched").ID == first.ID {
		t.Error("a binary with another modification time gave the same image (its created time is the binary's)")
	}
	if _, _, err := s.Prune(map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	ensure(2, "image pruned")
	ensure(0, "rebuilt")
	// Another program's build (here: a record of another path) leaves
	// this one's record alone: programs sharing the store do not send
	// each other to build again.
	recs := func() []defaultRecord {
		t.Helper()
		var rs []defaultRecord
		raw, _ := os.ReadFile(s.defaultRecordPath())
		if err := json.Unmarshal(raw, &rs); err != nil || len(rs) == 0 || rs[0].Builder.Ino == 0 {
			t.Fatalf("records %s: %v", raw, err)
		}
		return rs
	}
	write := func(rs []defaultRecord) {
		t.Helper()
		raw, _ := json.Marshal(rs)
		if err := os.WriteFile(s.defaultRecordPath(), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other := recs()[0]
	other.Builder.Path += ".other"
	other.Builder.Ino++
	write(append([]defaultRecord{other}, recs()...))
	ensure(0, "another program built it since")
	// Another build of this program (here: the record says so) lays the
	// image out again, since its code may have changed.
	rs := recs()
	for i := range rs {
		if rs[i].Builder.Path != other.Builder.Path {
			rs[i].Builder.Ino++
		}
	}
	write(rs)
	ensure(2, "built by another build of this program")
	ensure(0, "again by this one")
	if rs := recs(); len(rs) != 2 {
		t.Errorf("records %+v: want this program's and the other's", rs)
	}
}

func TestAddLayerCompressed(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	plain := layerTar(t, dir("etc/"), reg("etc/motd", "hello\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	li, err := s.AddLayer(bytes.NewReader(gz.Bytes()), "")
	if err != nil {
		t.Fatal(err)
	}
	if li.DiffID != Digest(plain) || li.TarSize != int64(len(plain)) || li.Size != 6 {
		t.Errorf("gzip layer: %+v, want diff ID %s", li, Digest(plain))
	}
	if b, _ := os.ReadFile(s.LayerTar(li.DiffID)); !bytes.Equal(b, plain) {
		t.Error("the stored tar is not the uncompressed layer")
	}
	if b, _ := os.ReadFile(filepath.Join(s.LayerTree(li.DiffID), "etc/motd")); string(b) != "hello\n" {
		t.Errorf("motd %q", b)
	}
	// A layer that is not what its image says is refused, and leaves
	// nothing.
	other := layerTar(t, reg("x", "y"))
	if _, err := s.AddLayer(bytes.NewReader(other), Digest(plain)); !errors.Is(err, ErrDiffID) {
		t.Errorf("mismatch: %v", err)
	}
	if s.HasLayer(Digest(other)) {
		t.Error("a refused layer is in the store")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) > 0 {
		t.Errorf("tmp holds %d entries", len(ents))
	}
}

// TestAddLayerRace adds one layer from several goroutines at once, as
// several hostd of several labs may: one layer, nothing half-made.
func TestAddLayerRace(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	var files []tarEntry
	for i := 0; i < 200; i++ {
		files = append(files, reg("d/f"+strings.Repeat("x", i%50)+string(rune('a'+i%26)), strings.Repeat("z", i)))
	}
	layer := layerTar(t, files...)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AddLayer(bytes.NewReader(layer), Digest(layer))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "layers"))
	tmp, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if len(ents) != 1 || len(tmp) != 0 {
		t.Errorf("layers %d, tmp %d", len(ents), len(tmp))
	}
}

// twoLayerImage adds an image of two layers, the second deleting a file
// of the first and hiding a directory, and returns its config blob.
func twoLayerImage(t *testing.T, s *Store) []byte {
	t.Helper()
	base := layerTar(t, dir("etc/"), reg("etc/hosts", "127.0.0.1 localhost\n"), dir("opt/"), reg("opt/a", "a"))
	top := layerTar(t, reg("etc/.wh.hosts", ""), reg("opt/.wh..wh..opq", ""), reg("opt/b", "b"))
	for _, l := range [][]byte{base, top} {
		if _, err := s.AddLayer(bytes.NewReader(l), ""); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `{"architecture":"amd64","config":{"Env":["PATH=/bin","GREETING=hi"],"Entrypoint":["/bin/echo"],"Cmd":["hello"],"WorkingDir":"/opt","ExposedPorts":{"80/tcp":{}}},` +
		`"created":"2026-01-02T03:04:05.123456789Z","history":[{"created":"2026-01-02T03:04:05Z","created_by":"base"},{"created":"2026-01-02T03:04:05Z","created_by":"top"},{"created":"2026-01-02T03:04:05Z","created_by":"CMD","empty_layer":true}],` +
		`"os":"linux","rootfs":{"type":"layers","diff_ids":["` + Digest(base) + `","` + Digest(top) + `"]}}`
	return []byte(cfg)
}

// TestSaveLoadRoundTrip saves images from one store and loads them into
// another: the same IDs, tags and layer bytes.
func TestSaveLoadRoundTrip(t *testing.T) {
	needRoot(t)
	needBusybox(t)
	a, b := newStore(t), newStore(t)
	def, err := a.EnsureDefault(DefaultSource{})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := a.AddConfig(twoLayerImage(t, a))
	if err != nil {
		t.Fatal(err)
	}
	imgA, _ := a.Image(def.ID)
	img2, _ := a.Image(id2)
	var buf bytes.Buffer
	err = a.WriteArchive(&buf, []SaveItem{{Image: imgA, Tags: def.Tags}, {Image: img2, Tags: []string{"team/app:1", "localhost:5000/app:latest"}}})
	if err != nil {
		t.Fatal(err)
	}
	var loaded []Loaded
	var progress []string
	err = b.LoadArchive(bytes.NewReader(buf.Bytes()), func(id string, size int64) { progress = append(progress, id) },
		func(l Loaded) error { loaded = append(loaded, l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 2 || loaded[0].ID != def.ID || loaded[1].ID != id2 ||
		strings.Join(loaded[0].Tags, " ") != "alpine:latest busybox:latest" || strings.Join(loaded[1].Tags, " ") != "team/app:1 localhost:5000/app:latest" {
		t.Fatalf("loaded %+v", loaded)
	}
	if len(progress) != 3 {
		t.Errorf("layers loaded: %v, want 3", progress)
	}
	for _, d := range append(imgA.Config.RootFS.DiffIDs, img2.Config.RootFS.DiffIDs...) {
		x, _ := os.ReadFile(a.LayerTar(d))
		y, err := os.ReadFile(b.LayerTar(d))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("layer %s differs after the round trip (%v)", d, err)
		}
	}
	// The whiteouts of the second layer are overlayfs ones.
	top := b.LayerTree(img2.Config.RootFS.DiffIDs[1])
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(top, "etc/hosts"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/hosts whiteout: %o %v", st.Mode, err)
	}
	// Loading again reads no layer.
	progress = nil
	if err := b.LoadArchive(bytes.NewReader(buf.Bytes()), func(id string, _ int64) { progress = append(progress, id) }, func(Loaded) error { return nil }); err != nil || len(progress) != 0 {
		t.Errorf("second load: %v, layers %v", err, progress)
	}
	// Saving the same image twice writes its layers once.
	buf.Reset()
	if err := a.WriteArchive(&buf, []SaveItem{{Image: imgA, Tags: []string{"alpine:latest"}}, {Image: imgA, Tags: []string{"busybox:latest"}}}); err != nil {
		t.Fatal(err)
	}
	if n := countLayers(t, buf.Bytes()); n != 1 {
		t.Errorf("%d layer.tar files for one layer", n)
	}
}

func countLayers(t *testing.T, archive []byte) int {
	tr := tar.NewReader(bytes.NewReader(archive))
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(h.Name, "/layer.tar") && h.Typeflag == tar.TypeReg {
			n++
		}
	}
}

// TestLoadBadArchives: what docker load refuses, hostd refuses, and the
// store is left as it was.
func TestLoadBadArchives(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	layer := layerTar(t, reg("f", "x"))
	cfg := `{"os":"linux","rootfs":{"type":"layers","diff_ids":["` + Digest(layerTar(t, reg("f", "other"))) + `"]}}`
	cases := map[string][]tarEntry{
		"no manifest": {reg("x.json", "{}")},
		"diff ID":     {reg("manifest.json", `[{"Config":"c.json","RepoTags":["a:1"],"Layers":["l/layer.tar"]}]`), reg("c.json", cfg), reg("l/layer.tar", string(layer))},
		"layers":      {reg("manifest.json", `[{"Config":"c.json","Layers":[]}]`), reg("c.json", cfg)},
		"escape":      {reg("manifest.json", `[{"Config":"../../../../etc/passwd","Layers":[]}]`)},
		"bad tag":     {reg("manifest.json", `[{"Config":"c.json","RepoTags":["Bad:1"],"Layers":[]}]`), reg("c.json", `{"os":"linux","rootfs":{"type":"layers"}}`)},
		"no rootfs":   {reg("manifest.json", `[{"Config":"c.json","Layers":[]}]`), reg("c.json", `{"os":"linux"}`)},
		"windows":     {reg("manifest.json", `[{"Config":"c.json","Layers":[]}]`), reg("c.json", `{"os":"windows","rootfs":{"type":"layers"}}`)},
	}
	want := map[string]string{
		"no manifest": ErrNoManifest.Error(),
		"diff ID":     "invalid diffID for layer 0: invalid diffID: expected",
		"layers":      "invalid manifest, layers length mismatch: expected 0, got 1",
		"escape":      "no such file or directory",
		"bad tag":     "invalid reference format: repository name must be lowercase",
		"no rootfs":   "invalid image JSON, no RootFS key",
		"windows":     "cannot load windows image on linux",
	}
	for name, entries := range cases {
		err := s.LoadArchive(bytes.NewReader(layerTar(t, entries...)), nil, func(Loaded) error { return nil })
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: %v, want %q", name, err, want[name])
		}
	}
	for _, d := range []string{"layers", "configs", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(s.Dir(), d)); len(ents) > 0 {
			t.Errorf("%s holds %d entries", d, len(ents))
		}
	}
}
