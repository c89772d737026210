package nstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tcpdump writes pcap (a capture file's bytes) to a file of the test's
// own and returns what `tcpdump -r FILE -nn ARGS...` prints of it: the
// proof that a capture reads as the real tool reads it. It reads a file
// only; nothing is captured.
func Tcpdump(t testing.TB, pcap []byte, args ...string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "capture.pcap")
	if err := os.WriteFile(file, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tcpdump", append([]string{"-r", file, "-nn"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v: %s", err, out)
	}
	return string(out)
}
