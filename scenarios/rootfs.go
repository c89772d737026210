package scenarios

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// A container sees its image's files and nothing of the machine's, and
// what it writes lands in its own writable layer, on both runtimes: the
// safety promise of a lab for the filesystem. The only thing of the
// machine the spec lets the container aim at is a marker directory of its
// own, so that a broken isolation could cost nothing else.
var _ = Describe("[rootfs] a container sees its image's files, never the machine's", Label("rootfs"), func() {
	It("keeps the machine out of the container and the container's writes off the machine", func(ctx SpecContext) {
		l := UpLab("single")
		d := CLI(l, "host1")
		marker, err := os.MkdirTemp("", "nslab-rootfs-marker-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, marker)
		name := filepath.Base(marker)

		By("docker run -itd --name cm01 --network none alpine sleep 1000")
		MustRun(d, Run{Name: "cm01", Network: "none", Cmd: []string{"sleep", "1000"}})
		By("in the container: touch /root/" + name + " /" + name + "; rm -rf " + marker + "; ls -a /; cat /proc/1/cmdline")
		script := fmt.Sprintf("touch /root/%[1]s /%[1]s; rm -rf %[2]s; ls -a /; echo; cat /proc/1/cmdline; echo; ls /run/nslab 2>&1; true", name, marker)
		out := MustExec(d, "cm01", "sh", "-c", script)

		By("the machine is unchanged: the marker is there, nothing of the container's writes")
		Expect(marker).To(BeADirectory(), "the container reached the machine's marker")
		Expect("/root/" + name).NotTo(BeAnExistingFile())
		Expect("/" + name).NotTo(BeAnExistingFile())

		By("the container's / is its root filesystem as docker export gives it, with the file it made")
		parts := strings.SplitN(out, "\n\n", 2)
		Expect(parts).To(HaveLen(2), "exec output: %q", out)
		var ls []string
		for _, e := range strings.Fields(parts[0]) {
			if e != "." && e != ".." {
				ls = append(ls, e)
			}
		}
		Expect(ls).To(ContainElement(name))
		Expect(ls).To(ConsistOf(exportedTop(ctx, l, "cm01")), "ls -a / in the container")
		Expect(parts[1]).To(HavePrefix("sleep\x001000\x00\n"), "/proc/1/cmdline is the container's command")
		Expect(parts[1]).To(ContainSubstring("ls: /run/nslab: No such file or directory"))

		By("ip a in the container is busybox's, the image's own tool, on both runtimes")
		ipa := MustExec(d, "cm01", "ip", "a")
		first, _, _ := strings.Cut(ipa, "\n")
		Expect(first).To(MatchRegexp(`^1: lo: <[A-Z_,]+> mtu \d+ qdisc \S+ qlen \d+$`), "busybox's ip prints no state or group: %q", ipa)
		var facts []string
		for _, line := range strings.Split(strings.TrimSpace(ipa), "\n") {
			facts = append(facts, "host1/cm01 ip a: "+strings.Join(strings.Fields(line), " "))
		}
		ObserveWith(l, "rootfs", "ip a", facts...)
	}, NodeTimeout(specTimeout))
})

// exportedTop lists the top-level entries of a container's root
// filesystem as docker export writes it.
func exportedTop(ctx context.Context, l *Lab, name string) []string {
	GinkgoHelper()
	cli, err := l.H("host1").DockerClient()
	Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, err := cli.ContainerExport(ctx, name, client.ContainerExportOptions{})
	Expect(err).NotTo(HaveOccurred())
	defer rc.Close()
	seen := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		top, _, _ := strings.Cut(strings.TrimPrefix(hdr.Name, "./"), "/")
		if top != "" && top != "." {
			seen[top] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
