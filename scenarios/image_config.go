package scenarios

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	nslimage "github.com/nslab/nslab/hostd/image"
	. "github.com/nslab/nslab/labtest"
)

// An image of the user's own, on both runtimes: a `docker save` archive
// of two layers (the default image's and one with the application) whose
// config sets Entrypoint, Cmd, Env, WorkingDir, User and EXPOSE, loaded
// with docker load; docker run takes all of them from the image, the
// command line overrides them, and -P publishes the exposed port on the
// first port of the kernel's ephemeral range, reached from another host.
var _ = Describe("[IMG] an image loaded from a docker save archive: docker run honours its config and -P publishes what it exposes", Label("images"), func() {
	It("runs the image's entrypoint and cmd in its working directory, with its environment and user, and publishes its EXPOSE 8080 with -P", func(nodeCtx SpecContext) {
		l := UpLab("classroom")
		node1, node2 := l.H("node1"), l.H("node2")
		d := CLI(l, "node1")
		archive := filepath.Join(GinkgoT().TempDir(), "app.tar")
		Expect(os.WriteFile(archive, appImageArchive(), 0o644)).To(Succeed())

		By("docker load -i app.tar")
		Expect(dockerOK(l, "node1", "load", "-i", archive)).To(Equal("Loaded image: lab/app:1\n"))

		By("docker run --rm lab/app:1: ENTRYPOINT cat, CMD greeting, read in WORKDIR /opt/app")
		Expect(dockerOK(l, "node1", "run", "--rm", "lab/app:1")).To(Equal("hello from the image\n"))

		By(`docker run --rm --entrypoint sh lab/app:1 -c 'echo $GREETING $MODE $PWD $(id -un)': the image's ENV, WORKDIR and USER`)
		env := dockerOK(l, "node1", "run", "--rm", "--entrypoint", "sh", "lab/app:1", "-c", "echo $GREETING $MODE $PWD $(id -un)")
		Expect(env).To(Equal("hi image /opt/app nobody\n"))

		By(`docker run --rm -e MODE=run -w /tmp -u root --entrypoint sh lab/app:1 -c ...: the command line wins`)
		over := dockerOK(l, "node1", "run", "--rm", "-e", "MODE=run", "-w", "/tmp", "-u", "root", "--entrypoint", "sh", "lab/app:1", "-c", "echo $GREETING $MODE $PWD $(id -un)")
		Expect(over).To(Equal("hi run /tmp root\n"))

		By("docker run -d -P --name app --entrypoint httpd lab/app:1 -f -p 8080 -h /opt/app: the image's 8080/tcp on the first ephemeral port")
		dockerOK(l, "node1", "run", "-d", "-P", "--name", "app", "--entrypoint", "httpd", "lab/app:1", "-f", "-p", "8080", "-h", "/opt/app")
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		ports, err := d.Port(ctx, "app")
		Expect(err).NotTo(HaveOccurred())
		first := strings.Fields(node1.Sh("sysctl -n net.ipv4.ip_local_port_range"))[0]
		Expect(ports).To(Equal([]string{"8080/tcp -> 0.0.0.0:" + first, "8080/tcp -> [::]:" + first}))
		appAddr := strings.TrimSpace(dockerOK(l, "node1", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "app"))
		Expect(ruleset(node1, "nat")).To(ContainSubstring(fmt.Sprintf("-A DOCKER ! -i docker0 -p tcp -m tcp --dport %s -j DNAT --to-destination %s:8080", first, appAddr)))

		By("node2: wget http://node1:" + first + "/greeting")
		url := fmt.Sprintf("http://%s:%s/greeting", node1.Addr(), first)
		Expect(fetch(node2.NetNS(), url, probeTimeout)).To(Equal("hello from the image\n"))

		ObserveWith(l, "IMG", "app", "run: "+env, "run with options: "+over, "port: "+strings.Join(ports, ", "),
			"image config: "+strings.TrimSpace(dockerOK(l, "node1", "image", "inspect", "-f", "{{json .Config}}", "lab/app:1")))
	}, NodeTimeout(specTimeout))
})

// appImageArchive is a `docker save` archive of lab/app:1, as docker build
// would make it from FROM busybox, a RUN that writes
// /opt/app/greeting, ENV, WORKDIR, USER nobody, EXPOSE 8080, ENTRYPOINT
// ["/bin/cat"] and CMD ["greeting"]: the default image's layer, a layer of
// its own, and the config that names them. The same bytes on every run.
func appImageArchive() []byte {
	GinkgoHelper()
	base, err := nslimage.BuildDefault(nslimage.DefaultSource{})
	Expect(err).NotTo(HaveOccurred())
	created := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	app := tarOf(created,
		tarEntry{name: "opt/", dir: true},
		tarEntry{name: "opt/app/", dir: true},
		tarEntry{name: "opt/app/greeting", body: "hello from the image\n"})
	appDiff := nslimage.Digest(app)
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"config": nslimage.ContainerConfig{
			User:         "nobody",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			Env:          []string{"PATH=" + nslimage.DefaultPath, "GREETING=hi", "MODE=image"},
			Cmd:          nslimage.StrSlice{"greeting"},
			WorkingDir:   "/opt/app",
			Entrypoint:   nslimage.StrSlice{"/bin/cat"},
		},
		"created": created,
		"history": []nslimage.History{{Created: created, CreatedBy: "nslab default image"}, {Created: created, CreatedBy: "RUN mkdir -p /opt/app && echo hello from the image > /opt/app/greeting"}},
		"os":      "linux",
		"rootfs":  nslimage.RootFS{Type: "layers", DiffIDs: []string{base.DiffID, appDiff}},
	})
	Expect(err).NotTo(HaveOccurred())
	id := strings.TrimPrefix(nslimage.Digest(config), "sha256:")
	layerPath := func(diff string) string { return strings.TrimPrefix(diff, "sha256:") + "/layer.tar" }
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   id + ".json",
		"RepoTags": []string{"lab/app:1"},
		"Layers":   []string{layerPath(base.DiffID), layerPath(appDiff)},
	}})
	Expect(err).NotTo(HaveOccurred())
	return tarOf(created,
		tarEntry{name: layerPath(base.DiffID), body: string(base.Layer)},
		tarEntry{name: layerPath(appDiff), body: string(app)},
		tarEntry{name: id + ".json", body: string(config)},
		tarEntry{name: "manifest.json", body: string(manifest)})
}

type tarEntry struct {
	name string
	dir  bool
	body string
}

// tarOf is a tar of the entries in order, every one root's, at time t.
func tarOf(t time.Time, entries ...tarEntry) []byte {
	GinkgoHelper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), ModTime: t, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if e.dir {
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		}
		Expect(tw.WriteHeader(h)).To(Succeed())
		_, err := tw.Write([]byte(e.body))
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(tw.Close()).To(Succeed())
	return buf.Bytes()
}
