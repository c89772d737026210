package hostd_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// event is one message of GET /events, as Docker 20.10 writes it.
type event struct {
	Status, ID, From string `json:",omitempty"`
	Type, Action     string
	Actor            struct {
		ID         string
		Attributes map[string]string
	}
	Scope    string
	Time     int64
	TimeNano int64
}

func decodeEvents(t *testing.T, data string) []event {
	t.Helper()
	var out []event
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// eventLines writes events without what differs from one run to the next:
// ids become the names they were made with (containers, networks), or
// numbered stand-ins (execs, anonymous names, images); times are checked
// and dropped.
func eventLines(t *testing.T, evs []event) []string {
	t.Helper()
	names := map[string]string{}
	standIn := func(kind, id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		n := fmt.Sprintf("%s%d", kind, len(names)+1)
		names[id] = n
		return n
	}
	random := regexp.MustCompile(`^[a-z]+_[a-z]+\d*$`)
	for _, e := range evs {
		if e.Action == "create" && (e.Type == "container" || e.Type == "network") {
			if n := e.Actor.Attributes["name"]; random.MatchString(n) {
				names[e.Actor.ID] = "<random name>"
			} else {
				names[e.Actor.ID] = n
			}
		}
	}
	var out []string
	var last int64
	for _, e := range evs {
		if e.TimeNano/1e9 != e.Time || e.TimeNano < last || e.Scope != "local" {
			t.Errorf("event %+v: time %d, timeNano %d (after %d), scope %q", e, e.Time, e.TimeNano, last, e.Scope)
		}
		last = e.TimeNano
		attrs := []string{}
		for k, v := range e.Actor.Attributes {
			switch {
			case k == "execID":
				v = standIn("exec", v)
			case k == "container" || strings.HasPrefix(v, "sha256:"):
				v = standIn("id", v)
			case k == "name" && random.MatchString(v):
				v = "<random name>"
			}
			attrs = append(attrs, k+"="+v)
		}
		slices.Sort(attrs)
		actor := e.Actor.ID
		if regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`).MatchString(actor) {
			actor = standIn("id", actor)
		}
		legacy := ""
		if e.Status != "" || e.ID != "" || e.From != "" {
			legacy = fmt.Sprintf(" (status %t, id %t, from %q)", e.Status == e.Action, e.ID == e.Actor.ID, e.From)
		}
		out = append(out, fmt.Sprintf("%s %s %s [%s]%s", e.Type, e.Action, actor, strings.Join(attrs, " "), legacy))
	}
	return out
}

// The events of a sequence of docker commands are Docker 20.10's, one for
// one and in the same order (fixtures/docker-20.10/events.jsonl, whose
// README lists the sequence).
func TestEventsAsDockerLogsThem(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	defer h.stop()
	dir := t.TempDir()
	file, tarball := filepath.Join(dir, "hostname"), filepath.Join(dir, "ev.tar")
	t0 := time.Now()
	for _, args := range [][]string{
		{"network", "create", "evnet"}, {"volume", "create", "evvol"},
		{"create", "--name", "ev1", "--network", "evnet", "-v", "evvol:/data", "-l", "a=b", "busybox", "sleep", "1000"},
		{"start", "ev1"}, {"exec", "ev1", "true"},
		{"network", "connect", "bridge", "ev1"}, {"network", "disconnect", "bridge", "ev1"},
		{"rename", "ev1", "ev2"}, {"restart", "-t", "1", "ev2"}, {"kill", "-s", "USR1", "ev2"}, {"stop", "-t", "1", "ev2"},
		{"start", "ev2"}, {"rm", "-f", "ev2"},
		{"run", "--rm", "--network", "none", "busybox", "true"},
		{"run", "-d", "--network", "host", "--name", "evh", "busybox", "true"}, {"wait", "evh"}, {"rm", "evh"},
		{"run", "-d", "--name", "evp", "-p", "8085:80", "busybox", "sleep", "100"}, {"top", "evp"},
		{"export", "-o", filepath.Join(dir, "export.tar"), "evp"},
		{"cp", "evp:/etc/hostname", file}, {"cp", file, "evp:/tmp/"}, {"rm", "-f", "evp"},
		{"tag", "busybox", "ev:1"}, {"save", "-o", tarball, "ev:1"}, {"rmi", "ev:1"}, {"load", "-i", tarball}, {"rmi", "ev:1"},
		{"volume", "rm", "evvol"}, {"network", "rm", "evnet"},
		{"create", "--name", "evc", "busybox", "true"}, {"container", "prune", "-f"},
		{"network", "create", "evn2"}, {"network", "prune", "-f"}, {"volume", "create", "evv2"}, {"volume", "prune", "-f"},
	} {
		h.mustDocker(args...)
	}
	code, hdr, body := h.api("GET", fmt.Sprintf("/v1.41/events?since=%d.%09d&until=%d", t0.Unix(), t0.Nanosecond(), time.Now().Unix()+1), "")
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("events: %d %v %s", code, hdr, body)
	}
	ref, err := os.ReadFile(filepath.Join("..", "fixtures", "docker-20.10", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got, want := eventLines(t, decodeEvents(t, body)), eventLines(t, decodeEvents(t, string(ref)))
	if !slices.Equal(got, want) {
		t.Errorf("events differ from Docker 20.10's:\n%s", lineDiff(want, got))
	}
}

// lineDiff lists the lines of want and got side by side from the first
// that differs.
func lineDiff(want, got []string) string {
	var b strings.Builder
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	fmt.Fprintf(&b, "the first %d lines agree\n", i)
	for j := i; j < max(len(want), len(got)) && j < i+10; j++ {
		w, g := "", ""
		if j < len(want) {
			w = want[j]
		}
		if j < len(got) {
			g = got[j]
		}
		fmt.Fprintf(&b, "docker: %s\nhostd:  %s\n", w, g)
	}
	return b.String()
}

// Compose follows a project with a live stream filtered by its labels;
// docker events filters by type, container (a prefix of its id or name)
// and event (exec_create matches "exec_create: CMD").
func TestEventsStreamAndFilters(t *testing.T) {
	needCLI(t)
	h := startHostd(t)
	defer h.stop()
	t0 := time.Now()
	req, err := http.NewRequest("GET", "http://hostd/v1.41/events?filters="+`%7B%22label%22%3A%5B%22com.docker.compose.project%3Ddemo%22%5D%7D`, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events stream: %d", resp.StatusCode)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	h.mustDocker("run", "-d", "--name", "f1", "-l", "com.docker.compose.project=demo", "busybox", "sleep", "100")
	h.mustDocker("run", "-d", "--name", "f2", "busybox", "sleep", "100")
	h.mustDocker("exec", "f2", "true")
	h.mustDocker("rm", "-f", "f1", "f2")
	var got []string
	for len(got) < 5 {
		select {
		case l := <-lines:
			var e event
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			got = append(got, e.Type+" "+e.Action+" "+e.Actor.Attributes["name"])
		case <-time.After(10 * time.Second):
			t.Fatalf("the stream stopped after %q", got)
		}
	}
	if want := []string{"container create f1", "container start f1", "container kill f1", "container die f1", "container destroy f1"}; !slices.Equal(got, want) {
		t.Errorf("the project's stream: got %q, want %q", got, want)
	}

	past := func(filters string) []string {
		t.Helper()
		q := fmt.Sprintf("/v1.41/events?since=%d&until=%d&filters=%s", t0.Unix(), time.Now().Unix()+1, filters)
		code, _, body := h.api("GET", q, "")
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		var out []string
		for _, e := range decodeEvents(t, body) {
			out = append(out, e.Type+" "+e.Action+" "+e.Actor.Attributes["name"])
		}
		return out
	}
	if got := past(`%7B%22type%22%3A%5B%22network%22%5D%2C%22container%22%3A%5B%22f2%22%5D%7D`); len(got) != 0 {
		t.Errorf("type=network and container=f2: nothing is both, got %q", got)
	}
	if got, want := past(`%7B%22type%22%3A%5B%22network%22%5D%7D`), []string{"network connect bridge", "network connect bridge", "network disconnect bridge", "network disconnect bridge"}; !slices.Equal(got, want) {
		t.Errorf("type=network: got %q, want %q", got, want)
	}
	if got, want := past(`%7B%22event%22%3A%5B%22exec_create%22%5D%2C%22container%22%3A%5B%22f%22%5D%7D`), []string{"container exec_create: true  f2"}; !slices.Equal(got, want) {
		t.Errorf("event=exec_create, container=f (a prefix): got %q, want %q", got, want)
	}
	now := time.Now().Unix()
	h.wantError("GET", fmt.Sprintf("/v1.41/events?since=%d&until=%d", now+5, now), "", http.StatusBadRequest,
		fmt.Sprintf("`since` time (%d) cannot be after `until` time (%d)", now+5, now))
	h.wantError("GET", "/v1.41/events?since=1.5x&until=1", "", http.StatusInternalServerError, `strconv.ParseInt: parsing "5x": invalid syntax`)
}
