package scenarios

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	nslimage "github.com/nslab/nslab/hostd/image"
	. "github.com/nslab/nslab/labtest"
)

// Images, on both runtimes: every docker host starts with the same
// default image (built from busybox-static, the same archive loaded into
// every real dockerd), keeps its own images and tags, and an image goes
// from one host to another with docker save and docker load, never
// pulled.
var _ = Describe("[IMG] images: the default image on every host, docker save on one host and docker load on the other", Label("images"), func() {
	It("lists alpine and busybox as one image, carries a tagged image to the other host with the same ID, and pulls nothing", func(nodeCtx SpecContext) {
		l := UpLab("classroom")
		def, err := nslimage.BuildDefault(nslimage.DefaultSource{})
		Expect(err).NotTo(HaveOccurred())

		By("docker images on node1 and node2: alpine:latest and busybox:latest, one image, nslab's default")
		for _, host := range []string{"node1", "node2"} {
			out := dockerOK(l, host, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
			Expect(strings.Split(strings.TrimSpace(out), "\n")).To(ConsistOf("alpine:latest "+def.ID, "busybox:latest "+def.ID), "on %s", host)
		}

		By("node1: docker tag alpine lab/mine:v1; docker save -o mine.tar lab/mine:v1")
		dockerOK(l, "node1", "tag", "alpine", "lab/mine:v1")
		archive := filepath.Join(GinkgoT().TempDir(), "mine.tar")
		dockerOK(l, "node1", "save", "-o", archive, "lab/mine:v1")

		By("node2: docker load -i mine.tar says what it loaded; the image has node1's ID and layers")
		Expect(dockerOK(l, "node2", "load", "-i", archive)).To(Equal("Loaded image: lab/mine:v1\n"))
		Expect(inspectImage(l, "node2", "lab/mine:v1")).To(Equal(inspectImage(l, "node1", "lab/mine:v1")))

		By("node1: docker rmi lab/mine:v1 untags it there; node2 keeps its own")
		Expect(dockerOK(l, "node1", "rmi", "lab/mine:v1")).To(Equal("Untagged: lab/mine:v1\n"))
		Expect(dockerOK(l, "node1", "images", "-q", "lab/mine")).To(BeEmpty())
		Expect(dockerOK(l, "node2", "images", "--format", "{{.Repository}}:{{.Tag}}", "lab/mine")).To(Equal("lab/mine:v1\n"))

		By("docker run redis: not here, and no registry to pull it from")
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		r, err := l.H("node1").DockerCommand(ctx, "run", "--rm", "redis")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.ExitCode).To(Equal(125))
		Expect(r.Stderr).To(ContainSubstring("Unable to find image 'redis:latest' locally"))
		Expect(r.Stderr).To(MatchRegexp(`Error response from daemon: Get "https://registry-1\.docker\.io/v2/": dial tcp: lookup registry-1\.docker\.io on \[::1\]:53: read udp \[::1\]:\d+->\[::1\]:53: read: connection refused`))
		Expect(dockerOK(l, "node1", "images", "-q", "redis")).To(BeEmpty())
	}, NodeTimeout(specTimeout))
})

// dockerOK runs the docker CLI against a host's daemon; it must exit 0.
func dockerOK(l *Lab, host string, args ...string) string {
	GinkgoHelper()
	return l.DockerCLI(host, args...)
}

// inspectImage is what docker image inspect shows of an image that both
// hosts must agree on: its ID, tags, layers and config.
func inspectImage(l *Lab, host, ref string) string {
	GinkgoHelper()
	var ins []struct {
		ID       string `json:"Id"`
		RepoTags []string
		RootFS   struct{ Layers []string }
		Config   json.RawMessage
		Size     int64
	}
	Expect(json.Unmarshal([]byte(dockerOK(l, host, "image", "inspect", ref)), &ins)).To(Succeed())
	Expect(ins).To(HaveLen(1))
	b, err := json.Marshal(ins[0])
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}
