package lab

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nslab/nslab/netns/probe"
)

// etcdKeys is the key space of the lab's etcd cluster: hostd keeps its
// state in the v3 keys, a real dockerd 20.10 in the v2 ones (the two are
// apart in etcd 3.5).
type etcdKeys struct {
	V3 []string `json:"v3"`
	// V2 are the v2 keys and directories, by path, and V2Nodes what
	// each holds.
	V2      []string          `json:"v2"`
	V2Nodes map[string]v2Node `json:"v2_nodes,omitempty"`
}

func (k *etcdKeys) facts() []string {
	var out []string
	for _, v := range k.V3 {
		out = append(out, "etcd v3 "+v)
	}
	for _, v := range k.V2 {
		if n, ok := k.V2Nodes[v]; ok && !n.Dir {
			v += " = " + n.Value
		}
		out = append(out, "etcd v2 "+v)
	}
	return out
}

// etcdClient speaks to one member's client URL from inside its host.
type etcdClient struct {
	hc   *http.Client
	base string // http://ADDR:2379
}

func (h *Host) etcdClient() *etcdClient {
	a := netip.AddrPortFrom(h.Spec.Etcd.Address, EtcdClientPort)
	return &etcdClient{hc: &http.Client{Transport: probe.Transport(h.NetNS())}, base: "http://" + a.String()}
}

// readEtcdKeys lists the cluster's keys through the member of h.
func readEtcdKeys(ctx context.Context, h *Host) (*etcdKeys, error) {
	c := h.etcdClient()
	defer c.hc.CloseIdleConnections()
	v3, err := c.v3Keys(ctx)
	if err != nil {
		return nil, err
	}
	v2, err := c.v2Keys(ctx)
	if err != nil {
		return nil, err
	}
	k := &etcdKeys{V3: v3, V2Nodes: v2}
	for p := range v2 {
		k.V2 = append(k.V2, p)
	}
	slices.Sort(k.V2)
	return k, nil
}

// resetEtcd deletes the keys base does not have, through the member of h
// (a v2 directory goes with what it holds), and puts back the v2 tree of
// base: Docker's key space, which a real dockerd and hostd's store write.
func resetEtcd(ctx context.Context, h *Host, base *etcdKeys) error {
	c := h.etcdClient()
	defer c.hc.CloseIdleConnections()
	now, err := readEtcdKeys(ctx, h)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range now.V3 {
		if !slices.Contains(base.V3, k) {
			body, _ := json.Marshal(map[string]any{"key": []byte(k)})
			if _, err := c.do(ctx, http.MethodPost, "/v3/kv/deleterange", body); err != nil {
				errs = append(errs, fmt.Errorf("etcd: delete v3 key %s: %w", k, err))
			}
		}
	}
	// Parents come before what they hold: a directory that goes takes its
	// keys, which then need nothing more.
	var gone []string
	for _, k := range now.V2 {
		if slices.Contains(base.V2, k) || slices.ContainsFunc(gone, func(g string) bool { return strings.HasPrefix(k, g+"/") }) {
			continue
		}
		_, err := c.do(ctx, http.MethodDelete, "/v2/keys"+k+"?recursive=true", nil)
		if err != nil && !errors.Is(err, errEtcdNotFound) {
			errs = append(errs, fmt.Errorf("etcd: delete v2 key %s: %w", k, err))
		}
		gone = append(gone, k)
	}
	return errors.Join(append(errs, c.putBackV2(ctx, base, now))...)
}

// putBackV2 makes again the v2 keys and directories of base that now
// lacks, and gives back their values to those whose value changed:
// parents before what they hold (base.V2 is sorted). A key that had a time
// to live (a daemon's node key, which it renews) gets it again.
func (c *etcdClient) putBackV2(ctx context.Context, base, now *etcdKeys) error {
	var errs []error
	for _, k := range base.V2 {
		b, ok := base.V2Nodes[k]
		if !ok {
			continue // a baseline of an older nslab: names only
		}
		n, had := now.V2Nodes[k]
		if had && n.Dir == b.Dir && n.Value == b.Value {
			continue
		}
		form := url.Values{}
		if b.Dir {
			if had && n.Dir {
				continue
			}
			form.Set("dir", "true")
		} else {
			form.Set("value", b.Value)
		}
		if b.TTL > 0 {
			form.Set("ttl", strconv.FormatInt(b.TTL, 10))
		}
		if _, err := c.doForm(ctx, http.MethodPut, "/v2/keys"+k, form); err != nil {
			errs = append(errs, fmt.Errorf("etcd: put back v2 key %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// v3Keys lists every key of the v3 key space (a range from "\x00" to the
// end, keys only).
func (c *etcdClient) v3Keys(ctx context.Context) ([]string, error) {
	body, _ := json.Marshal(map[string]any{"key": []byte{0}, "range_end": []byte{0}, "keys_only": true})
	b, err := c.do(ctx, http.MethodPost, "/v3/kv/range", body)
	if err != nil {
		return nil, fmt.Errorf("etcd v3 keys: %w", err)
	}
	var r struct {
		Kvs []struct {
			Key string `json:"key"` // base64, as the JSON gateway writes bytes
		} `json:"kvs"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("etcd v3 keys: %w", err)
	}
	var out []string
	for _, kv := range r.Kvs {
		k, err := base64.StdEncoding.DecodeString(kv.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd v3 keys: %w", err)
		}
		out = append(out, string(k))
	}
	slices.Sort(out)
	return out, nil
}

// v2Node is a node of the v2 API's answers.
type v2Node struct {
	Key   string   `json:"key"`
	Dir   bool     `json:"dir,omitempty"`
	Value string   `json:"value,omitempty"`
	TTL   int64    `json:"ttl,omitempty"`
	Nodes []v2Node `json:"nodes,omitempty"`
}

// v2Keys reads every v2 key and directory, by path (without what a
// directory holds).
func (c *etcdClient) v2Keys(ctx context.Context) (map[string]v2Node, error) {
	b, err := c.do(ctx, http.MethodGet, "/v2/keys/?recursive=true", nil)
	if err != nil {
		return nil, fmt.Errorf("etcd v2 keys: %w", err)
	}
	var r struct {
		Node v2Node `json:"node"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("etcd v2 keys: %w", err)
	}
	out := map[string]v2Node{}
	var walk func(n v2Node)
	walk = func(n v2Node) {
		for _, c := range n.Nodes {
			walk(c)
			c.Nodes = nil
			out[c.Key] = c
		}
	}
	walk(r.Node)
	return out, nil
}

var errEtcdNotFound = errors.New("not found")

// doForm sends form as the v2 API takes a key's fields.
func (c *etcdClient) doForm(ctx context.Context, method, path string, form url.Values) ([]byte, error) {
	b, _, err := c.send(ctx, method, path, []byte(form.Encode()), "application/x-www-form-urlencoded")
	return b, err
}

func (c *etcdClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	b, _, err := c.send(ctx, method, path, body, "")
	return b, err
}

// send sends one request; it returns the answer's body and the cluster's
// index it was read at (the v2 API's X-Etcd-Index, 0 when absent), that
// also of a 404.
func (c *etcdClient) send(ctx context.Context, method, path string, body []byte, contentType string) ([]byte, uint64, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	index, _ := strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, index, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, index, fmt.Errorf("%s %s: %w", method, path, errEtcdNotFound)
	case resp.StatusCode >= 300:
		return nil, index, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, index, nil
}

// nodesDir is where Docker's discovery keeps the cluster's hosts: each
// daemon with a cluster store writes /docker/nodes/<advertise> once it
// runs, and renews it (a key with a time to live).
const nodesDir = "/docker/nodes"

// waitNodeKeys waits until every daemon of the lab with a cluster store and
// an advertise address has written its node key, which it does on its own
// after it answers: a baseline taken before would lack keys that every
// start of the daemons writes again. It follows the directory with the v2
// API's long poll from the index of the last read, so a key written
// between the read and the wait is not missed.
func (l *Lab) waitNodeKeys(ctx context.Context) error {
	want := 0
	for _, h := range l.dockerHosts() {
		if h.Spec.ClusterStore != "" && h.Spec.ClusterAdvertise != "" {
			want++
		}
	}
	members := l.etcdHosts()
	if want == 0 || len(members) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, hostdTimeout)
	defer cancel()
	c := members[0].etcdClient()
	defer c.hc.CloseIdleConnections()
	for {
		n, index, err := c.countNodes(ctx)
		if err != nil {
			return fmt.Errorf("etcd: the daemons' node keys: %w", err)
		}
		if n >= want {
			return nil
		}
		q := url.Values{"wait": {"true"}, "recursive": {"true"}, "waitIndex": {strconv.FormatUint(index+1, 10)}}
		if _, err := c.do(ctx, http.MethodGet, "/v2/keys"+nodesDir+"?"+q.Encode(), nil); err != nil && !errors.Is(err, errEtcdNotFound) {
			return fmt.Errorf("etcd: %d of %d daemons wrote their node key under %s: %w", n, want, nodesDir, err)
		}
	}
}

// countNodes counts the keys under nodesDir, and returns the cluster's
// index the answer was read at (X-Etcd-Index, also on a 404).
func (c *etcdClient) countNodes(ctx context.Context) (int, uint64, error) {
	b, index, err := c.send(ctx, http.MethodGet, "/v2/keys"+nodesDir+"?recursive=true", nil, "")
	switch {
	case errors.Is(err, errEtcdNotFound):
		return 0, index, nil
	case err != nil:
		return 0, 0, err
	case index == 0:
		return 0, 0, fmt.Errorf("GET %s: the answer has no X-Etcd-Index", nodesDir)
	}
	var r struct {
		Node v2Node `json:"node"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", nodesDir, err)
	}
	n := 0
	for _, k := range r.Node.Nodes {
		if !k.Dir {
			n++
		}
	}
	return n, index, nil
}
