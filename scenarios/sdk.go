package scenarios

import (
	"bytes"
	"context"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// The Go SDK on both runtimes: a program built on the moby client loads
// an image, creates, starts, waits for, reads the logs of, inspects,
// exec's in and removes containers of it on a lab host, as it would on any
// Docker 20.10.
var _ = Describe("[SDK] the moby Go client on a lab host", Label("sdk"), func() {
	It("loads an image, runs it to its end and reads its logs, runs a server of it with -P, exec's in it, and removes both", func(nodeCtx SpecContext) {
		l := UpLab("classroom")
		node1, node2 := l.H("node1"), l.H("node2")
		c := node1.Docker()
		ctx, cancel := context.WithTimeout(nodeCtx, 2*StepTimeout)
		defer cancel()

		By("ImageLoad of a docker save archive; ImageInspect shows its config")
		res, err := c.ImageLoad(ctx, bytes.NewReader(appImageArchive()), client.ImageLoadWithQuiet(true))
		Expect(err).NotTo(HaveOccurred())
		loaded, err := io.ReadAll(res)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Close()).To(Succeed())
		Expect(string(loaded)).To(ContainSubstring("Loaded image: lab/app:1"))
		img, err := c.ImageInspect(ctx, "lab/app:1")
		Expect(err).NotTo(HaveOccurred())
		Expect(img.Config.Entrypoint).To(Equal([]string{"/bin/cat"}))
		Expect(img.Config.ExposedPorts).To(HaveKey("8080/tcp"))

		By("ContainerCreate with the image's own command, ContainerStart, ContainerWait, ContainerLogs")
		once, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "once", Config: &container.Config{Image: "lab/app:1"}})
		Expect(err).NotTo(HaveOccurred())
		_, err = c.ContainerStart(ctx, once.ID, client.ContainerStartOptions{})
		Expect(err).NotTo(HaveOccurred())
		wait := c.ContainerWait(ctx, once.ID, client.ContainerWaitOptions{})
		select {
		case r := <-wait.Result:
			Expect(r.StatusCode).To(BeZero())
		case err := <-wait.Error:
			Fail("ContainerWait: " + err.Error())
		}
		logs, err := c.ContainerLogs(ctx, once.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
		Expect(err).NotTo(HaveOccurred())
		var stdout, stderr bytes.Buffer
		_, err = stdcopy.StdCopy(&stdout, &stderr, logs)
		Expect(err).NotTo(HaveOccurred())
		Expect(logs.Close()).To(Succeed())
		Expect(stdout.String()).To(Equal("hello from the image\n"))
		Expect(stderr.String()).To(BeEmpty())

		By("ContainerInspect: the image's config in the container's, its exit recorded")
		in, err := c.ContainerInspect(ctx, "once", client.ContainerInspectOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(in.Container.Config.WorkingDir).To(Equal("/opt/app"))
		Expect(in.Container.Config.User).To(Equal("nobody"))
		Expect(in.Container.Config.Env).To(ContainElements("GREETING=hi", "MODE=image"))
		Expect(in.Container.Config.Cmd).To(Equal([]string{"greeting"}))
		Expect(in.Container.State.Status).To(Equal(container.StateExited))
		Expect(in.Container.State.ExitCode).To(BeZero())

		By("a server of the image with PublishAllPorts, reached from node2 at the port inspect reports")
		srv, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "srv",
			Config:     &container.Config{Image: "lab/app:1", Entrypoint: []string{"httpd"}, Cmd: []string{"-f", "-p", "8080", "-h", "/opt/app"}},
			HostConfig: &container.HostConfig{PublishAllPorts: true}})
		Expect(err).NotTo(HaveOccurred())
		_, err = c.ContainerStart(ctx, srv.ID, client.ContainerStartOptions{})
		Expect(err).NotTo(HaveOccurred())
		in, err = c.ContainerInspect(ctx, srv.ID, client.ContainerInspectOptions{})
		Expect(err).NotTo(HaveOccurred())
		bindings := in.Container.NetworkSettings.Ports[network.MustParsePort("8080/tcp")]
		Expect(bindings).NotTo(BeEmpty())
		url := "http://" + node1.Addr().String() + ":" + bindings[0].HostPort + "/greeting"
		Expect(fetch(node2.NetNS(), url, probeTimeout)).To(Equal("hello from the image\n"))

		By("ExecCreate, ExecAttach and ExecInspect in the server: its user, its directory, an exit code")
		r, err := API(l, "node1").Exec(ctx, "srv", "sh", "-c", "id -un; pwd; exit 3")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Stdout).To(Equal("nobody\n/opt/app\n"))
		Expect(r.ExitCode).To(Equal(3))

		By("ContainerRemove of both, then ImageRemove: nothing of them left on the host")
		for _, id := range []string{once.ID, srv.ID} {
			_, err = c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
			Expect(err).NotTo(HaveOccurred())
		}
		list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(list.Items).To(BeEmpty())
		Expect(node1.Sh("iptables-save -t nat")).NotTo(ContainSubstring("--to-destination " + in.Container.NetworkSettings.Networks["bridge"].IPAddress.String()))
		del, err := c.ImageRemove(ctx, "lab/app:1", client.ImageRemoveOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(del.Items).NotTo(BeEmpty())
		Expect(del.Items[0].Untagged).To(Equal("lab/app:1"))
		_, err = c.ImageInspect(ctx, "lab/app:1")
		Expect(err).To(HaveOccurred())
	}, NodeTimeout(specTimeout))
})
