package check

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns/probe"
)

// firewallSpec is a rule in a host's firewall, written as a student checks
// it: "nat POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE" is
// asked with `iptables -t nat -C POSTROUTING ...`, which holds the rule to
// the kernel's own comparison; "ip docker-nat POSTROUTING ip saddr ...
// masquerade" is looked up in `nft list chain`, counters left out.
type firewallSpec struct {
	at
	Table, Chain string
	Rule         []string // iptables' words
	Family       string   // nft only
	NFTRule      string
}

var iptablesTables = []string{"filter", "nat", "mangle", "raw", "security"}

func parseFirewall(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	if !ok || !p.hostOnly(a, vals, kp, "at") {
		return nil
	}
	s := &firewallSpec{at: a}
	ipt, nft := vals["iptables"], vals["nft"]
	switch {
	case (ipt == nil) == (nft == nil):
		p.Errorf(p.Lines[kp], kp, "give iptables: or nft:, one of them")
		return nil
	case ipt != nil:
		words, err := splitWords(p.Str(ipt, kp+".iptables"))
		switch {
		case err != nil:
			p.Errorf(ipt.Line, kp+".iptables", "%v", err)
		case len(words) < 3 || !slices.Contains(iptablesTables, words[0]):
			p.Errorf(ipt.Line, kp+".iptables", "want TABLE CHAIN RULE..., such as nat POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE (tables: %s)", strings.Join(iptablesTables, ", "))
		default:
			s.Table, s.Chain, s.Rule = words[0], words[1], words[2:]
			return s
		}
		return nil
	}
	words := strings.Fields(p.Str(nft, kp+".nft"))
	if len(words) < 4 {
		p.Errorf(nft.Line, kp+".nft", "want FAMILY TABLE CHAIN RULE..., such as ip docker-nat POSTROUTING ip saddr 172.17.0.0/16 oifname != \"docker0\" masquerade")
		return nil
	}
	s.Family, s.Table, s.Chain, s.NFTRule = words[0], words[1], words[2], normalizeNFT(strings.Join(words[3:], " "))
	return s
}

// splitWords splits a command line as a shell would, quotes and all.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	var quote rune
	in := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%s: a quote is not closed", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

func (s *firewallSpec) words() string {
	if s.Family != "" {
		return fmt.Sprintf("%s %s %s: %s", s.Family, s.Table, s.Chain, s.NFTRule)
	}
	return fmt.Sprintf("-t %s -A %s %s", s.Table, s.Chain, strings.Join(s.Rule, " "))
}

func (s *firewallSpec) describe() string { return fmt.Sprintf("rule %s on %s", s.words(), s.At) }

func (s *firewallSpec) expected(negate bool) string {
	return expectation(negate, "the", fmt.Sprintf("rule %s on %s", s.words(), s.At))
}

func (s *firewallSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	h, err := e.lab.Host(s.At.Host)
	if err != nil {
		return false, false, "", err
	}
	if s.Family != "" {
		return s.lookNFT(ctx, h)
	}
	argv := append([]string{"iptables", "-w", "5", "-t", s.Table, "-C", s.Chain}, s.Rule...)
	r, err := h.Exec(ctx, argv...)
	if err != nil {
		return false, false, "", err
	}
	if r.ExitCode == 0 {
		return true, false, "present", nil
	}
	list, err := h.Exec(ctx, "iptables", "-w", "5", "-t", s.Table, "-S", s.Chain)
	if err != nil {
		return false, false, "", err
	}
	if list.ExitCode != 0 {
		return false, false, fmt.Sprintf("no chain %s in table %s: %s", s.Chain, s.Table, strings.TrimSpace(list.Stderr)), nil
	}
	if r.ExitCode != 1 {
		// iptables could not read the rule at all: no retry mends that.
		return false, true, "iptables: " + strings.TrimSpace(r.Stderr), nil
	}
	return false, false, fmt.Sprintf("%s of %s holds:\n%s", s.Chain, s.Table, strings.TrimSpace(list.Stdout)), nil
}

func (s *firewallSpec) lookNFT(ctx context.Context, h *lab.Host) (bool, bool, string, error) {
	r, err := h.Exec(ctx, "nft", "list", "chain", s.Family, s.Table, s.Chain)
	if err != nil {
		return false, false, "", err
	}
	if r.ExitCode != 0 {
		return false, false, fmt.Sprintf("no chain %s %s %s: %s", s.Family, s.Table, s.Chain, strings.TrimSpace(r.Stderr)), nil
	}
	var rules []string
	for _, line := range strings.Split(r.Stdout, "\n") {
		line = normalizeNFT(line)
		if line == "" || strings.HasSuffix(line, "{") || line == "}" || strings.HasPrefix(line, "type ") {
			continue
		}
		if line == s.NFTRule {
			return true, false, line, nil
		}
		rules = append(rules, "  "+line)
	}
	return false, false, fmt.Sprintf("%s holds:\n%s", s.Chain, strings.Join(rules, "\n")), nil
}

var (
	nftCounter = regexp.MustCompile(`\bcounter( packets \d+ bytes \d+)?`)
	nftHandle  = regexp.MustCompile(`# handle \d+$`)
)

// normalizeNFT leaves out what varies in a listed rule: counters, handles,
// runs of blanks.
func normalizeNFT(s string) string {
	s = nftHandle.ReplaceAllString(s, "")
	s = nftCounter.ReplaceAllString(s, "")
	return strings.Join(strings.Fields(s), " ")
}

// etcdSpec is a key in the lab's etcd cluster, in the v2 key space hostd
// and real Docker 20.10 both write or, for other writers, the v3 one,
// asked from inside a host through etcd's HTTP API (/v2/keys, the v3 JSON
// gateway).
type etcdSpec struct {
	at
	Key    string
	Prefix bool
}

func parseEtcd(p *parser, vals map[string]*yaml.Node, kp string) spec {
	a, ok := parseAt(p, vals, kp, "at")
	if !ok || !p.hostOnly(a, vals, kp, "at") {
		return nil
	}
	s := &etcdSpec{at: a}
	s.Key = get(p, vals, kp, "key", func(v string) (string, error) {
		if !strings.HasPrefix(v, "/") {
			return "", fmt.Errorf("%q: Docker's keys start with /", v)
		}
		return v, nil
	})
	if v, given := vals["prefix"]; given {
		s.Prefix = p.Bool(v, kp+".prefix")
	}
	if s.Key == "" {
		return nil
	}
	return s
}

func (s *etcdSpec) what() string {
	if s.Prefix {
		return "a key under " + s.Key
	}
	return "the key " + s.Key
}

func (s *etcdSpec) describe() string { return fmt.Sprintf("etcd %s from %s", s.Key, s.At) }

func (s *etcdSpec) expected(negate bool) string {
	if negate {
		return fmt.Sprintf("no %s in etcd, asked from %s", strings.TrimPrefix(s.what(), "the "), s.At)
	}
	return fmt.Sprintf("%s in etcd, asked from %s", s.what(), s.At)
}

// member is the client address of an etcd member the host reaches: its
// own on its loopback, else the first member's.
func (s *etcdSpec) member(l *lab.Lab) (netip.AddrPort, error) {
	h, err := l.Host(s.At.Host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if h.Spec.Etcd != nil {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), lab.EtcdClientPort), nil
	}
	for _, o := range l.Hosts() {
		if o.Spec.Etcd != nil {
			return netip.AddrPortFrom(o.Spec.Etcd.Address, lab.EtcdClientPort), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("lab %s has no etcd member", l.ID())
}

func (s *etcdSpec) look(ctx context.Context, e *env, _ time.Time) (bool, bool, string, error) {
	m, err := s.member(e.lab)
	if err != nil {
		return false, true, err.Error(), nil
	}
	ns, err := e.netns(ctx, s.At)
	if err != nil {
		return false, false, "", err
	}
	hc := &http.Client{Transport: probe.Transport(ns), Timeout: 5 * time.Second}
	keys, err := etcdV3Keys(ctx, hc, m, s.Key, s.Prefix)
	if err != nil {
		return false, false, "", err
	}
	if len(keys) > 0 {
		return true, false, fmt.Sprintf("v3: %s", strings.Join(keys, ", ")), nil
	}
	status, err := etcdV2Status(ctx, hc, m, s.Key)
	if err != nil {
		return false, false, "", err
	}
	if status == http.StatusOK {
		return true, false, "v2: " + s.Key, nil
	}
	return false, false, fmt.Sprintf("neither in the v3 key space nor in v2 (%d) at %s", status, m), nil
}

// etcdV3Keys asks the v3 JSON gateway for the key, or the first keys under
// it as a prefix.
func etcdV3Keys(ctx context.Context, hc *http.Client, m netip.AddrPort, key string, prefix bool) ([]string, error) {
	req := map[string]any{"key": base64.StdEncoding.EncodeToString([]byte(key)), "keys_only": true, "limit": 5}
	if prefix {
		end := []byte(key)
		end[len(end)-1]++
		req["range_end"] = base64.StdEncoding.EncodeToString(end)
	}
	body, _ := json.Marshal(req)
	r, err := post(ctx, hc, fmt.Sprintf("http://%s/v3/kv/range", m), body)
	if err != nil {
		return nil, fmt.Errorf("etcd v3 range %s at %s: %w", key, m, err)
	}
	var resp struct {
		Kvs []struct {
			Key []byte `json:"key"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(r, &resp); err != nil {
		return nil, fmt.Errorf("etcd v3 range %s at %s: %w", key, m, err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys, nil
}

func post(ctx context.Context, hc *http.Client, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// etcdV2Status is the status of GET /v2/keys/KEY: 200 when the key or
// directory exists, 404 when not.
func etcdV2Status(ctx context.Context, hc *http.Client, m netip.AddrPort, key string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/v2/keys%s", m, strings.TrimSuffix(key, "/")), nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("etcd v2 get %s at %s: %w", key, m, err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
