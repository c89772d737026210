package hostd_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/nslab/nslab/hostdconfig"
)

// tarOf builds a tar of regular files (name → content), in order.
func tarOf(t testing.TB, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// appConfig is an image config with everything docker run takes from an
// image, over one layer.
func appConfig(diffID string) string {
	return `{"architecture":"amd64","config":{"User":"nobody","Env":["PATH=/bin","GREETING=hi","MODE=image"],"Entrypoint":["/bin/echo"],"Cmd":["hello"],` +
		`"WorkingDir":"/opt","ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"StopSignal":"SIGINT","Labels":{"team":"net","tier":"image"}},` +
		`"created":"2026-01-02T03:04:05Z","history":[{"created":"2026-01-02T03:04:05Z","created_by":"COPY app /opt/app"},{"created":"2026-01-02T03:04:05Z","created_by":"CMD [\"hello\"]","empty_layer":true}],` +
		`"os":"linux","rootfs":{"type":"layers","diff_ids":["` + diffID + `"]}}`
}

// saveArchive writes, by hand, the archive docker save writes for one
// image of one layer under tags, and returns its path and the image ID.
func saveArchive(t testing.TB, dir, config string, layer []byte, tags ...string) (string, string) {
	t.Helper()
	id := sha([]byte(config))
	tj, _ := json.Marshal(tags)
	manifest := `[{"Config":"` + id[7:] + `.json","RepoTags":` + string(tj) + `,"Layers":["abc/layer.tar"]}]`
	p := filepath.Join(dir, "app.tar")
	if err := os.WriteFile(p, tarOf(t, [2]string{"abc/layer.tar", string(layer)}, [2]string{id[7:] + ".json", config}, [2]string{"manifest.json", manifest}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, id
}

// TestDefaultImage: a fresh hostd has the default image under both names.
func TestDefaultImage(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	out := h.mustDocker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("docker images:\n%s", out)
	}
	a, b := strings.Fields(lines[0]), strings.Fields(lines[1])
	names := []string{a[0], b[0]}
	if !reflect.DeepEqual(names, []string{"alpine:latest", "busybox:latest"}) && !reflect.DeepEqual(names, []string{"busybox:latest", "alpine:latest"}) || a[1] != b[1] {
		t.Fatalf("docker images:\n%s", out)
	}
	var ins []struct {
		ID       string `json:"Id"`
		RepoTags []string
		Config   struct{ Cmd, Env []string }
		RootFS   struct {
			Type   string
			Layers []string
		}
		Size int64
		Os   string
	}
	if err := json.Unmarshal([]byte(h.mustDocker("image", "inspect", "alpine")), &ins); err != nil {
		t.Fatal(err)
	}
	img := ins[0]
	if !strings.HasPrefix(img.ID, "sha256:"+a[1]) || !reflect.DeepEqual(img.RepoTags, []string{"alpine:latest", "busybox:latest"}) ||
		!reflect.DeepEqual(img.Config.Cmd, []string{"/bin/sh"}) || len(img.Config.Env) != 1 || img.RootFS.Type != "layers" ||
		len(img.RootFS.Layers) != 1 || img.Size < 1<<20 || img.Os != "linux" {
		t.Errorf("inspect %+v", img)
	}
	hist := h.mustDocker("history", "--format", "{{.ID}} {{.CreatedBy}}", "busybox")
	if !strings.HasPrefix(hist, a[1]+" nslab: Debian busybox-static") || strings.Count(hist, "\n") != 1 {
		t.Errorf("history:\n%s", hist)
	}
}

// TestPullAndMissingImage: nothing is pulled; the errors are Docker's.
func TestPullAndMissingImage(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	before := h.mustDocker("images", "-q", "--no-trunc")
	registry := regexp.MustCompile(`Error response from daemon: Get "https://registry-1\.docker\.io/v2/": dial tcp: lookup registry-1\.docker\.io on \[::1\]:53: read udp \[::1\]:\d+->\[::1\]:53: read: connection refused`)
	_, stderr, code := h.docker("pull", "busybox")
	if code != 1 || !registry.MatchString(stderr) {
		t.Errorf("pull busybox: exit %d, %q", code, stderr)
	}
	_, stderr, code = h.docker("run", "--rm", "redis")
	if code != 125 || !strings.Contains(stderr, "Unable to find image 'redis:latest' locally") || !registry.MatchString(stderr) {
		t.Errorf("run redis: exit %d, %q", code, stderr)
	}
	_, stderr, _ = h.docker("pull", "myreg.example:5000/team/app:1")
	if !strings.Contains(stderr, `Get "https://myreg.example:5000/v2/": dial tcp: lookup myreg.example on [::1]:53`) {
		t.Errorf("pull from a named registry: %q", stderr)
	}
	h.wantError("POST", "/v1.41/containers/create", `{"Image":"redis"}`, 404, "No such image: redis:latest")
	h.wantError("POST", "/v1.41/containers/create", `{"Image":"Redis"}`, 400, "invalid reference format: repository name must be lowercase")
	h.wantError("POST", "/v1.41/images/create?fromImage=Redis", "", 400, "invalid reference format: repository name must be lowercase")
	if after := h.mustDocker("images", "-q", "--no-trunc"); after != before {
		t.Errorf("a failed pull changed the images:\n%s\n%s", before, after)
	}
}

// TestTagAndRmi walks docker tag and docker rmi as Docker 20.10 answers
// them, conflicts with containers included.
func TestTagAndRmi(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	id := strings.TrimSpace(h.mustDocker("images", "-q", "alpine"))
	h.mustDocker("tag", "alpine", "mine/x:1")
	h.mustDocker("tag", id, "byid:1")
	if out := h.mustDocker("images", "--format", "{{.Repository}}:{{.Tag}}", "mine/x"); out != "mine/x:1\n" {
		t.Errorf("images mine/x: %q", out)
	}
	if out := h.mustDocker("rmi", "mine/x:1"); out != "Untagged: mine/x:1\n" {
		t.Errorf("rmi mine/x:1: %q", out)
	}
	h.wantError("DELETE", "/v1.41/images/"+id, "", 409, "conflict: unable to delete "+id+" (must be forced) - image is referenced in multiple repositories")
	h.wantError("DELETE", "/v1.41/images/nosuch", "", 404, "No such image: nosuch:latest")
	h.wantError("POST", "/v1.41/images/nosuch/tag?repo=x", "", 404, "No such image: nosuch:latest")
	h.wantError("POST", "/v1.41/images/alpine/tag?repo=x&tag=bad%20tag", "", 500, "invalid tag format")
	run := strings.TrimSpace(h.mustDocker("create", "--network", "none", "busybox", "sleep", "100"))
	h.mustDocker("start", run)
	if out := h.mustDocker("rmi", "alpine", "byid:1"); out != "Untagged: alpine:latest\nUntagged: byid:1\n" {
		t.Errorf("rmi alpine byid:1: %q", out)
	}
	h.wantError("DELETE", "/v1.41/images/busybox", "", 409, `conflict: unable to remove repository reference "busybox" (must force) - container `+run[:12]+` is using its referenced image `+id)
	h.wantError("DELETE", "/v1.41/images/"+id+"?force=1", "", 409, "conflict: unable to delete "+id+" (cannot be forced) - image is being used by running container "+run[:12])
	h.mustDocker("rm", "-f", run)
	stopped := strings.TrimSpace(h.mustDocker("create", "--network", "none", "busybox", "true"))
	h.wantError("DELETE", "/v1.41/images/"+id, "", 409, "conflict: unable to delete "+id+" (must be forced) - image is being used by stopped container "+stopped[:12])
	out := h.mustDocker("rmi", "-f", "busybox")
	if !strings.HasPrefix(out, "Untagged: busybox:latest\nDeleted: sha256:"+id) {
		t.Errorf("rmi -f busybox: %q", out)
	}
	// The container keeps its image; docker ps shows the image's ID.
	var list []struct{ Image, ImageID string }
	_, _, body := h.api("GET", "/v1.41/containers/json?all=1", "")
	json.Unmarshal([]byte(body), &list)
	if len(list) != 1 || list[0].Image != list[0].ImageID || !strings.HasPrefix(list[0].ImageID, "sha256:"+id) {
		t.Errorf("containers %+v", list)
	}
	if out := h.mustDocker("images", "-q"); out != "" {
		t.Errorf("images left: %q", out)
	}
}

// TestImageConfigMerge: create takes what the container does not set from
// its image, as Docker's merge does.
func TestImageConfigMerge(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	layer := tarOf(t, [2]string{"opt/app", "#!/bin/sh\necho app\n"})
	archive, id := saveArchive(t, t.TempDir(), appConfig(sha(layer)), layer, "mine/app:1")
	if out := h.mustDocker("load", "-i", archive); out != "Loaded image: mine/app:1\n" {
		t.Fatalf("load: %q", out)
	}
	type cfg struct {
		User         string
		Env          []string
		Cmd          []string
		Entrypoint   []string
		WorkingDir   string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		StopSignal   string
		Labels       map[string]string
		Image        string
	}
	create := func(body string) (cfg, string) {
		t.Helper()
		code, _, out := h.api("POST", "/v1.41/containers/create", body)
		if code != 201 {
			t.Fatalf("create %s: %d %s", body, code, out)
		}
		var c struct{ Id string }
		json.Unmarshal([]byte(out), &c)
		var ins struct {
			Image  string
			Config cfg
		}
		_, _, out = h.api("GET", "/v1.41/containers/"+c.Id+"/json", "")
		json.Unmarshal([]byte(out), &ins)
		return ins.Config, ins.Image
	}
	c, img := create(`{"Image":"mine/app:1","Env":["MODE=user"],"Labels":{"tier":"container"},"ExposedPorts":{"53/udp":{}},"HostConfig":{"NetworkMode":"none"}}`)
	want := cfg{User: "nobody", Env: []string{"MODE=user", "PATH=/bin", "GREETING=hi"}, Cmd: []string{"hello"}, Entrypoint: []string{"/bin/echo"}, WorkingDir: "/opt",
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}}, Volumes: map[string]struct{}{"/data": {}}, StopSignal: "SIGINT",
		Labels: map[string]string{"team": "net", "tier": "container"}, Image: "mine/app:1"}
	if !reflect.DeepEqual(c, want) || img != id {
		t.Errorf("merged config\n got %+v %s\nwant %+v %s", c, img, want, id)
	}
	if c, _ := create(`{"Image":"mine/app:1","Cmd":["bye"],"User":"root","WorkingDir":"/"}`); !reflect.DeepEqual(c.Entrypoint, []string{"/bin/echo"}) || !reflect.DeepEqual(c.Cmd, []string{"bye"}) || c.User != "root" || c.WorkingDir != "/" {
		t.Errorf("Cmd given: %+v", c)
	}
	if c, _ := create(`{"Image":"mine/app:1","Entrypoint":["/bin/cat"]}`); !reflect.DeepEqual(c.Entrypoint, []string{"/bin/cat"}) || c.Cmd != nil {
		t.Errorf("Entrypoint given: the image's Cmd must go: %+v", c)
	}
	if c, _ := create(`{"Image":"` + id[7:19] + `","Entrypoint":[]}`); len(c.Entrypoint) != 0 || !reflect.DeepEqual(c.Cmd, []string{"hello"}) || c.Image != id[7:19] {
		t.Errorf("--entrypoint '': %+v", c)
	}
	h.wantError("POST", "/v1.41/containers/create", `{"Image":"mine/app:1","Entrypoint":[""]}`, 400, "No command specified")
	h.wantError("POST", "/v1.41/containers/create", `{"Image":"mine/app:1","Healthcheck":{"Test":["CMD","true"]}}`, 400, "--health-cmd (Config.Healthcheck) is not supported by nslab's hostd; the container was not created")
	if out := h.mustDocker("ps", "-a", "-q", "--filter", "ancestor=mine/app:1"); strings.Count(out, "\n") != 4 {
		t.Errorf("ancestor=mine/app:1: %q", out)
	}
	if out := h.mustDocker("ps", "-a", "-q", "--filter", "ancestor=alpine"); out != "" {
		t.Errorf("ancestor=alpine: %q", out)
	}
	hist := h.mustDocker("history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "mine/app:1")
	if hist != id[7:19]+"|CMD [\"hello\"]|0B\n<missing>|COPY app /opt/app|19B\n" {
		t.Errorf("history:\n%s", hist)
	}
}

// TestSaveLoadBetweenHosts: docker save on one host, docker load on
// another: the same image, byte for byte; each host keeps its own tags.
func TestSaveLoadBetweenHosts(t *testing.T) {
	needCLI(t)
	h1, h2 := startHostd(t), startHostd(t)
	dir := t.TempDir()
	layer := tarOf(t, [2]string{"opt/app", "app"})
	original, id := saveArchive(t, dir, appConfig(sha(layer)), layer, "lab/app:v1")
	h1.mustDocker("load", "-i", original)
	h1.mustDocker("tag", "alpine", "lab/mine:v1")
	saved := filepath.Join(dir, "saved.tar")
	h1.mustDocker("save", "-o", saved, "lab/mine:v1", "lab/app:v1")
	out := h2.mustDocker("load", "-i", saved)
	if out != "Loaded image: lab/mine:v1\nLoaded image: lab/app:v1\n" {
		t.Errorf("load on h2: %q", out)
	}
	for _, ref := range []string{"lab/mine:v1", "lab/app:v1"} {
		if a, b := h1.mustDocker("images", "-q", "--no-trunc", ref), h2.mustDocker("images", "-q", "--no-trunc", ref); a != b || a == "" {
			t.Errorf("%s: %q on h1, %q on h2", ref, a, b)
		}
	}
	if got := strings.TrimSpace(h2.mustDocker("images", "-q", "--no-trunc", "lab/app:v1")); got != id {
		t.Errorf("lab/app:v1 is %s on h2, %s in the archive", got, id)
	}
	// The layer comes out as it went in: same diff ID.
	var ins []struct{ RootFS struct{ Layers []string } }
	json.Unmarshal([]byte(h2.mustDocker("image", "inspect", "lab/app:v1")), &ins)
	if len(ins) != 1 || !reflect.DeepEqual(ins[0].RootFS.Layers, []string{sha(layer)}) {
		t.Errorf("diff IDs %+v", ins)
	}
	h1.mustDocker("rmi", "lab/mine:v1", "lab/app:v1")
	if out := h2.mustDocker("images", "--format", "{{.Repository}}:{{.Tag}}", "lab/*"); out != "lab/app:v1\nlab/mine:v1\n" && out != "lab/mine:v1\nlab/app:v1\n" {
		t.Errorf("h2's images after rmi on h1: %q", out)
	}
	// Loading what is there already only says so.
	if out := h2.mustDocker("load", "-i", saved); out != "Loaded image: lab/mine:v1\nLoaded image: lab/app:v1\n" {
		t.Errorf("second load: %q", out)
	}
	_, stderr, code := h2.docker("load", "-i", filepath.Join(dir, "app.tar"+"x"))
	if code == 0 || !strings.Contains(stderr, "no such file") {
		t.Errorf("load of a missing file: %d %q", code, stderr)
	}
	bad := filepath.Join(dir, "bad.tar")
	os.WriteFile(bad, tarOf(t, [2]string{"hello.txt", "not an image"}), 0o644)
	_, stderr, code = h2.docker("load", "-i", bad)
	if code != 1 || !strings.Contains(stderr, "manifest.json") {
		t.Errorf("load of a tar without manifest: %d %q", code, stderr)
	}
}

// TestImagesSurviveRestart: a host's images and tags are in its data
// root: a new hostd on the same data root finds them.
func TestImagesSurviveRestart(t *testing.T) {
	needCLI(t)
	h1 := startHostd(t)
	h1.mustDocker("tag", "alpine", "kept:1")
	h1.mustDocker("rmi", "busybox")
	if err := h1.terminate(); err != nil {
		t.Fatal(err)
	}
	h2 := startHostdWith(t, func(c *hostdconfig.Config) { c.DataRoot = h1.cfg.DataRoot })
	if out := h2.mustDocker("images", "--format", "{{.Repository}}:{{.Tag}}"); out != "alpine:latest\nkept:1\n" && out != "kept:1\nalpine:latest\n" {
		t.Errorf("images after restart: %q", out)
	}
}

// TestPushAndPrune: push has nowhere to go; prune removes untagged images
// (every unused one with -a) and says what it reclaimed.
func TestPushAndPrune(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	_, stderr, code := h.docker("push", "alpine")
	if code != 1 || !strings.Contains(stderr, `Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on [::1]:53`) {
		t.Errorf("push alpine: %d %q", code, stderr)
	}
	_, stderr, _ = h.docker("push", "nosuch")
	if !strings.Contains(stderr, "An image does not exist locally with the tag: nosuch") {
		t.Errorf("push nosuch: %q", stderr)
	}
	dir := t.TempDir()
	layer := tarOf(t, [2]string{"opt/app", "app"})
	first, firstID := saveArchive(t, dir, appConfig(sha(layer)), layer, "lab/app:1")
	h.mustDocker("load", "-i", first)
	// Loading another image under the same tag leaves the first untagged.
	other := tarOf(t, [2]string{"opt/other", "other"})
	second, _ := saveArchive(t, t.TempDir(), appConfig(sha(other)), other, "lab/app:1")
	if out := h.mustDocker("load", "-i", second); out != "The image lab/app:1 already exists, renaming the old one with ID "+firstID+" to empty string\nLoaded image: lab/app:1\n" {
		t.Errorf("load over a tag: %q", out)
	}
	if out := h.mustDocker("images", "-q", "--no-trunc", "--filter", "dangling=true"); out != firstID+"\n" {
		t.Errorf("dangling: %q", out)
	}
	out := h.mustDocker("image", "prune", "-f")
	if !strings.Contains(out, "deleted: "+firstID) || !strings.Contains(out, "Total reclaimed space: 3B") {
		t.Errorf("image prune:\n%s", out)
	}
	out = h.mustDocker("image", "prune", "-a", "-f")
	if !strings.Contains(out, "untagged: alpine:latest") || !strings.Contains(out, "untagged: lab/app:1") {
		t.Errorf("image prune -a:\n%s", out)
	}
	if out := h.mustDocker("images", "-q"); out != "" {
		t.Errorf("images after prune -a: %q", out)
	}
}
