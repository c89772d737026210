package scenarios

import (
	"context"
	"fmt"
	"os"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// A virtual host is a machine you log into: its /var/run (Debian's link to
// /run) is a tmpfs of its own. The seeds write there as root on their
// machine (seed 003 and 004 pin namespaces under /var/run/netns, `ip netns
// add` makes it a mount point); in a lab that must stay inside the host,
// never reach the machine, and go with the host. The suites' snapshot of
// the machine's /run/netns and mount table, taken around the whole run,
// checks the last part once more.
var _ = Describe("[E16] a virtual host's /var/run is its own", Label("E16"), func() {
	It("keeps what is made there inside the host, and nothing of it is left after down", func(nodeCtx SpecContext) {
		l := UpLab("single")
		h := l.H("host1")

		By("a fresh host: no /var/run/netns, and /var/run/docker.sock is the host's daemon")
		Expect(l.Sh("host1", "ip netns list")).To(BeEmpty())
		l.Sh("host1", "test ! -e /var/run/netns")
		Expect(l.Sh("host1", "docker info -f '{{.Name}}'")).To(Equal("host1\n"))

		By("a student's namespace, files and a process in that namespace, all under the host's /var/run")
		l.Sh("host1", "ip netns add student && touch /var/run/student.txt && mkdir -p /var/run/student.d")
		l.Sh("host1", "setsid ip netns exec student sleep 1000 </dev/null >/dev/null 2>&1 &")
		Expect(l.Sh("host1", "ip netns list")).To(ContainSubstring("student"))
		ExpectNotOnMachine("/run/student.txt", "/run/student.d", netns.Path("student"))
		Expect(machineMounts()).NotTo(ContainSubstring("student"), "the machine's mount table")
		// Both namespaces stay open here until the end: a namespace's inode
		// number is handed to the next new namespace once it is freed, and
		// the other specs running meanwhile make namespaces all the time.
		f, err := h.Open("/var/run/netns/student")
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		student := Inode("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
		Eventually(func() []int { return procsIn("net", student) }).WithTimeout(probeTimeout).Should(HaveLen(1), "the student's sleep")
		mnt, err := os.Open(h.MountNS())
		Expect(err).NotTo(HaveOccurred())
		defer mnt.Close()
		hostMnt := Inode("/proc/self/fd/" + strconv.Itoa(int(mnt.Fd())))
		Expect(procsIn("mnt", hostMnt)).NotTo(BeEmpty(), "the host's daemon runs in the host's mount namespace")

		By("down: the process, the host's mount namespace and its pins are gone")
		ctx, cancel := context.WithTimeout(nodeCtx, UpTimeout)
		defer cancel()
		Expect(takeDown(ctx, l)).To(Succeed())
		Expect(procsIn("net", student)).To(BeEmpty(), "a process in the student's namespace outlived the lab")
		Expect(procsIn("mnt", hostMnt)).To(BeEmpty(), "a process in the host's mount namespace outlived the lab")
		ExpectNotOnMachine(h.MountNS(), h.UTSNS(), l.StateDir())
		Expect(machineMounts()).NotTo(ContainSubstring(l.ID()), "the machine's mount table after down")
	}, NodeTimeout(specTimeout))
})

// machineMounts is the mount table of the machine (of this process).
func machineMounts() string {
	GinkgoHelper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// procsIn lists the processes whose namespace of the kind (net, mnt, uts)
// has the inode ino, zombies aside.
func procsIn(kind string, ino uint64) []int {
	pids, _ := kernel.Processes()
	var out []int
	for _, pid := range pids {
		if got, err := netns.Inode(fmt.Sprintf("/proc/%d/ns/%s", pid, kind)); err != nil || got != ino {
			continue
		}
		if st, err := kernel.ReadProcessStat(pid); err == nil && st.State != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}
