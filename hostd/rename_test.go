package hostd_test

import (
	"net/http"
	"strings"
	"testing"
)

// docker rename as on Docker 20.10: its errors, the new name in the
// embedded DNS of a running container's network (the old one gone, the
// aliases kept), and a link to it that follows it.
func TestRename(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	defer h.stop()
	h.mustDocker("network", "create", "rn")
	h.mustDocker("run", "-d", "--name", "r1", "--network", "rn", "--network-alias", "ra", "busybox", "sleep", "100")
	h.mustDocker("run", "-d", "--name", "r2", "--network", "rn", "busybox", "sleep", "100")
	h.mustDocker("rename", "r1", "r1new")
	lookup := func(name string) string {
		out, _, _ := h.docker("exec", "r2", "nslookup", "-type=a", name, "127.0.0.11")
		return out
	}
	if out := lookup("r1new"); !strings.Contains(out, "Name:\tr1new") {
		t.Errorf("the new name does not resolve:\n%s", out)
	}
	if out := lookup("ra"); !strings.Contains(out, "Name:\tra") {
		t.Errorf("the alias no longer resolves:\n%s", out)
	}
	if out := lookup("r1"); strings.Contains(out, "Name:\tr1") {
		t.Errorf("the old name still resolves:\n%s", out)
	}
	if got := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{.Name}}", "r1new")); got != "/r1new" {
		t.Errorf("inspect Name: %q", got)
	}

	id := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{.Id}}", "r2"))
	h.wantError("POST", "/v1.41/containers/r1new/rename?name=r2", "", http.StatusConflict,
		`Error when allocating new name: Conflict. The container name "/r2" is already in use by container "`+id+`". You have to remove (or rename) that container to be able to reuse that name.`)
	h.wantError("POST", "/v1.41/containers/r1new/rename?name=r1new", "", http.StatusBadRequest, "Renaming a container with the same name as its current name")
	h.wantError("POST", "/v1.41/containers/r1new/rename?name=bad%20name", "", http.StatusBadRequest,
		"Error when allocating new name: Invalid container name (/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
	h.wantError("POST", "/v1.41/containers/r1new/rename", "", http.StatusBadRequest, "Neither old nor new names may be empty")
	h.wantError("POST", "/v1.41/containers/nosuch/rename?name=x", "", http.StatusNotFound, "No such container: nosuch")

	// A link names its target; the target's rename keeps the link.
	h.mustDocker("run", "-d", "--name", "lk1", "busybox", "sleep", "100")
	h.mustDocker("create", "--name", "lk2", "--link", "lk1:test", "busybox", "sleep", "100")
	h.mustDocker("rename", "lk1", "lk1new")
	h.mustDocker("start", "lk2")
	if got := strings.TrimSpace(h.mustDocker("inspect", "-f", "{{json .HostConfig.Links}}", "lk2")); got != `["/lk1new:/lk2/test"]` {
		t.Errorf("lk2's links after its target's rename: %s", got)
	}
	if out := h.mustDocker("exec", "lk2", "cat", "/etc/hosts"); !strings.Contains(out, "\ttest ") || !strings.Contains(out, " lk1new") {
		t.Errorf("lk2's /etc/hosts:\n%s", out)
	}
	h.mustDocker("rm", "-f", "r1new", "r2", "lk1new", "lk2")
}
