package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/image"
)

// oneDockerHost is a lab of one docker host.
func oneDockerHost(name string) *Topology {
	return &Topology{
		Name:     name,
		Segments: []Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("192.168.99.0/24")}},
		Hosts: []HostSpec{{Name: "host1", Kind: KindDocker,
			Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("192.168.99.101/24")}}}},
	}
}

// docker20 is Debian's docker 20.10 client, which builds with the
// classic builder the dockerd of the lab has.
func docker20(t *testing.T, h *Host, args ...string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.DockerHost(), "DOCKER_BUILDKIT=0", "DOCKER_CONFIG="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// imageFacts is what two daemons must agree on about one image.
type imageFacts struct {
	ID       string `json:"Id"`
	RepoTags []string
	RootFS   struct{ Layers []string }
	Config   json.RawMessage
	Os       string
	Size     int64
}

func inspectImageAPI(t *testing.T, h *Host, ref string) imageFacts {
	t.Helper()
	c := testClient(t, h)
	var raw bytes.Buffer
	if _, err := c.ImageInspect(context.Background(), ref, client.ImageInspectWithRawResponse(&raw)); err != nil {
		t.Fatalf("host %s: inspect %s: %v", h.Name, ref, err)
	}
	var f imageFacts
	if err := json.Unmarshal(raw.Bytes(), &f); err != nil {
		t.Fatalf("host %s: inspect %s: %v", h.Name, ref, err)
	}
	return f
}

func saveAPI(t *testing.T, h *Host, path string, names ...string) {
	t.Helper()
	c := testClient(t, h)
	r, err := c.ImageSave(context.Background(), names)
	if err != nil {
		t.Fatalf("host %s: save %v: %v", h.Name, names, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("host %s: save %v: %v", h.Name, names, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadAPI(t *testing.T, h *Host, path string) {
	t.Helper()
	b := mustRead(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := loadImages(ctx, h.Socket(), bytes.NewReader(b)); err != nil {
		t.Fatalf("host %s: load %s: %v", h.Name, path, err)
	}
}

// TestImagesAcrossRuntimes carries images between a real dockerd 20.10
// and hostd in both directions: an image docker build made on dockerd
// (several layers, a deleted file, everything docker run takes from an
// image) loads into hostd with the same ID, tags and diff IDs, and hostd
// saves it back in a form dockerd loads with the same ID. The default
// image every dockerd of a lab loads is hostd's own archive: same ID on
// both, and docker save of it writes the same bytes on both.
func TestImagesAcrossRuntimes(t *testing.T) {
	t.Parallel() // waits on dockerd: beside the other long tests
	requireDockerd(t)
	if _, err := os.Stat("/usr/bin/docker"); err != nil {
		t.Skipf("needs Debian's docker 20.10 client at /usr/bin/docker to build on dockerd: %v", err)
	}
	ref := upLab(t, oneDockerHost("refimg"), dockerdOptions(t))
	nat := upLab(t, oneDockerHost("natimg"), Options{Hostd: realHostd(t)})
	dh, hh := ref.Hosts()[0], nat.Hosts()[0]

	if a, b := inspectImageAPI(t, dh, "alpine"), inspectImageAPI(t, hh, "alpine"); !reflect.DeepEqual(a, b) {
		t.Errorf("the default image differs:\ndockerd %+v\nhostd   %+v", a, b)
	}
	// docker save writes the same bytes on both.
	dir := t.TempDir()
	saveAPI(t, dh, filepath.Join(dir, "d.tar"), "alpine")
	saveAPI(t, hh, filepath.Join(dir, "h.tar"), "alpine")
	if a, b := mustRead(t, filepath.Join(dir, "d.tar")), mustRead(t, filepath.Join(dir, "h.tar")); !bytes.Equal(a, b) {
		t.Errorf("docker save alpine: dockerd wrote %d bytes, hostd %d, not the same", len(a), len(b))
	}

	ctxDir := t.TempDir()
	dockerfile := `FROM alpine
RUN mkdir -p /opt/app && echo hello > /opt/app/greeting && rm /etc/group
ENV GREETING=hi MODE=image
WORKDIR /opt/app
EXPOSE 8080/tcp
LABEL team=net
STOPSIGNAL SIGINT
USER nobody
ENTRYPOINT ["/bin/cat"]
CMD ["greeting"]
`
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	docker20(t, dh, "build", "-q", "-t", "lab/app:1", ctxDir)
	want := inspectImageAPI(t, dh, "lab/app:1")

	fromDockerd := filepath.Join(dir, "from-dockerd.tar")
	saveAPI(t, dh, fromDockerd, "lab/app:1")
	loadAPI(t, hh, fromDockerd)
	got := inspectImageAPI(t, hh, "lab/app:1")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dockerd → hostd:\n got %+v\nwant %+v", got, want)
	}
	// The deleted /etc/group is an overlayfs whiteout in its layer.
	store, err := image.OpenStore(image.StoreDir())
	if err != nil {
		t.Fatal(err)
	}
	img, err := store.Image(got.ID)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(img.Layers[1], "etc", "group"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("the RUN layer's deleted /etc/group: mode %o rdev %d (%v), want a 0:0 character device", st.Mode, st.Rdev, err)
	}

	runImage(t, "hostd", hh, "lab/app:1")

	docker20(t, hh, "tag", "lab/app:1", "lab/app:from-hostd")
	fromHostd := filepath.Join(dir, "from-hostd.tar")
	saveAPI(t, hh, fromHostd, "lab/app:from-hostd")
	docker20(t, dh, "rmi", "lab/app:1")
	loadAPI(t, dh, fromHostd)
	back := inspectImageAPI(t, dh, "lab/app:from-hostd")
	if back.ID != want.ID || !reflect.DeepEqual(back.RootFS, want.RootFS) || !reflect.DeepEqual(back.RepoTags, []string{"lab/app:from-hostd"}) {
		t.Errorf("hostd → dockerd: %+v, want ID %s and layers %v", back, want.ID, want.RootFS.Layers)
	}
	runImage(t, "dockerd", dh, "lab/app:from-hostd")
	fmt.Fprintf(os.Stderr, "image %s: %d layers, dockerd → hostd → dockerd\n", want.ID, len(want.RootFS.Layers))
}

// runImage runs the image TestImagesAcrossRuntimes builds on the daemon it
// was loaded into: ENTRYPOINT cat and CMD greeting in WORKDIR /opt/app as
// USER nobody, then its ENV, WORKDIR and USER seen by a shell, then the
// command line's -e, -w and -u over them.
func runImage(t *testing.T, runtime string, h *Host, ref string) {
	t.Helper()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{ref}, "hello\n"},
		{[]string{"--entrypoint", "sh", ref, "-c", "echo $GREETING $MODE $PWD $(id -un)"}, "hi image /opt/app nobody\n"},
		{[]string{"-e", "MODE=run", "-w", "/tmp", "-u", "root", "--entrypoint", "sh", ref, "-c", "echo $GREETING $MODE $PWD $(id -un)"}, "hi run /tmp root\n"},
	} {
		if got := docker20(t, h, append([]string{"run", "--rm"}, c.args...)...); got != c.want {
			t.Errorf("%s: docker run --rm %s: %q, want %q", runtime, strings.Join(c.args, " "), got, c.want)
		}
	}
}

// smallArchive writes a `docker save` archive of one image of one small
// layer, tagged, by hand.
func smallArchive(t *testing.T, dir, content string, tags ...string) (string, string) {
	t.Helper()
	layer := tarFiles(t, [2]string{"opt/" + content, content})
	diffID := image.Digest(layer)
	config := `{"os":"linux","config":{"Cmd":["/opt/` + content + `"]},"rootfs":{"type":"layers","diff_ids":["` + diffID + `"]}}`
	id := image.Digest([]byte(config))
	tj, _ := json.Marshal(tags)
	manifest := `[{"Config":"c.json","RepoTags":` + string(tj) + `,"Layers":["l/layer.tar"]}]`
	p := filepath.Join(dir, content+".tar")
	if err := os.WriteFile(p, tarFiles(t, [2]string{"l/layer.tar", string(layer)}, [2]string{"c.json", config}, [2]string{"manifest.json", manifest}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, id
}

func tarFiles(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return buf.Bytes()
}

// TestLabImages: every host of a hostd lab starts with the default image,
// the topology's archives and Options.Images, each host with its own
// repository in the lab's data directory; an image no lab uses can be
// cleaned from the store, the others not.
func TestLabImages(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	fromTopo, topoID := smallArchive(t, dir, "topo", "lab/topo:1")
	fromOpts, optsID := smallArchive(t, dir, "opts", "lab/opts:1", "lab/topo:1")
	_, unusedID := smallArchive(t, dir, "unused", "lab/unused:1")
	storeDir := filepath.Join(t.TempDir(), "images")
	topo := oneDockerHost("imgs")
	topo.Hosts = append(topo.Hosts, HostSpec{Name: "host2", Kind: KindDocker,
		Interfaces: []InterfaceSpec{{Segment: "lan0", Address: netip.MustParsePrefix("192.168.99.102/24")}}})
	topo.Images = []string{fromTopo}
	if _, err := Up(context.Background(), topo, Options{Root: t.TempDir(), Images: []string{filepath.Join(dir, "none.tar")}}); err == nil || !strings.Contains(err.Error(), "none.tar: want a `docker save` archive") {
		t.Errorf("a missing archive: %v", err)
	}
	l := upLab(t, topo, Options{Hostd: realHostd(t), Images: []string{fromOpts}, ImageStore: storeDir})
	for _, h := range l.Hosts() {
		for ref, id := range map[string]string{"lab/opts:1": optsID, "lab/topo:1": optsID, "busybox": ""} {
			f := inspectImageAPI(t, h, ref)
			if id != "" && f.ID != id {
				t.Errorf("host %s: %s is %s, want %s (the later archive's)", h.Name, ref, f.ID, id)
			}
		}
		if _, err := os.Stat(image.RepositoryFile(filepath.Join(l.state.DataDir, h.Name))); err != nil {
			t.Errorf("host %s: no repository in the data dir: %v", h.Name, err)
		}
	}
	// The image of the topology's archive lost its tag to the later one:
	// untagged on the host, still the host's.
	store, err := image.OpenStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadArchiveFile(store, filepath.Join(dir, "unused.tar"), func(image.Loaded) error { return nil }); err != nil {
		t.Fatal(err)
	}
	use, err := ImageUse(l.root, storeDir)
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{}
	for id, who := range use {
		keep[id] = true
		if id == topoID && len(who) != 2 {
			t.Errorf("%s is used by %v, want both hosts", id, who)
		}
	}
	removed, _, err := store.Prune(keep)
	if err != nil || !reflect.DeepEqual(removed, []string{unusedID}) {
		t.Errorf("prune removed %v (%v), want only %s", removed, err, unusedID)
	}
	for _, id := range []string{topoID, optsID} {
		if _, err := store.Image(id); err != nil {
			t.Errorf("a used image went: %v", err)
		}
	}
}
