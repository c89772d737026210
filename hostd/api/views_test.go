package api

import (
	"testing"
	"time"

	"github.com/nslab/nslab/hostd/api/types"
)

func TestHumanDuration(t *testing.T) {
	if humanDuration(90*time.Second) != "About a minute" || humanDuration(3*time.Second) != "3 seconds" {
		t.Fatal("human duration")
	}
}

// What Docker 20.10's container list shows of a Compose service (seen
// through `docker-compose --verbose` on a real dockerd).
func TestListAsDockerShowsIt(t *testing.T) {
	cmd := []string{"sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"}
	if got, want := listCommand(cmd), `sh -c 'trap 'exit 0' TERM; sleep 1000 & wait'`; got != want {
		t.Errorf("list Command: got %q, want %q", got, want)
	}
	nets := summaryNetworks(map[string]*types.EndpointSettings{"demo_front": {Aliases: []string{"web", "www"}, Links: []string{"x"}, NetworkID: "n1", IPAddress: "172.28.5.10"}})
	if es := nets["demo_front"]; es.Aliases != nil || es.Links != nil || es.NetworkID != "n1" || es.IPAddress != "172.28.5.10" {
		t.Errorf("list Networks: %+v", es)
	}
}
