package hostd_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// vmRSS reads a process's resident set in KiB.
func vmRSS(pid int) (int, error) { return statusKiB(pid, "VmRSS:") }

// statusKiB reads one KiB field of /proc/PID/status ("VmRSS:", "RssFile:").
func statusKiB(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no %s for %d", field, pid)
}

// createStart creates and starts one none-mode container through the API.
func createStart(ctx context.Context, cli *client.Client, name string) error {
	cc, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: "alpine", Cmd: []string{"sleep", "1000"}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		return err
	}
	_, err = cli.ContainerStart(ctx, cc.ID, client.ContainerStartOptions{})
	return err
}

// TestFootprint measures hostd's resident memory idle and with ten
// running containers. The bound is generous; the figures are logged.
func TestFootprint(t *testing.T) {
	h := startHostd(t)
	ctx := context.Background()
	pid := h.cmd.Process.Pid
	time.Sleep(200 * time.Millisecond)
	idle, err := vmRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 10; i++ {
		if err := createStart(ctx, h.cli, fmt.Sprintf("c%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	busy, err := vmRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := statusKiB(pid, "RssFile:")
	t.Logf("hostd VmRSS idle %d KiB, with 10 containers %d KiB (%.1f KiB per container, %d KiB of it file-backed: the binary's pages); 10 create+start in %v (%.0f containers/s)",
		idle, busy, float64(busy-idle)/10, file, elapsed.Round(time.Millisecond), 10/elapsed.Seconds())
	if busy > 64*1024 {
		t.Errorf("hostd uses %d KiB with 10 containers", busy)
	}
	list, err := h.cli.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil || len(list.Items) != 10 {
		t.Fatalf("running containers: %d %v", len(list.Items), err)
	}
}

// BenchmarkCreateStart reports containers created and started per second
// through the API (none mode: a namespace, a pin, files, the command started from a thread).
func BenchmarkCreateStart(b *testing.B) {
	h := startHostd(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := createStart(ctx, h.cli, fmt.Sprintf("b%05d", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "containers/s")
	if rss, err := vmRSS(h.cmd.Process.Pid); err == nil {
		b.ReportMetric(float64(rss), "KiB-rss")
	}
}
