package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
)

// runSources fills m's cells: each source pings its destinations (every
// one but itself) through one socket per address family, at most
// o.Parallel sources at once, and then removes the neighbour entries its
// pings added (neighbours). A source writes only its own row.
func runSources(ctx context.Context, m Matrix, from, to []Endpoint, o MatrixOpts) {
	par := o.Parallel
	if par <= 0 {
		par = DefaultParallel
	}
	nb := newNeighbours(append(append([]Endpoint(nil), from...), to...))
	defer nb.close()
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, src := range from {
		var v4, v6 []target
		var peers []Endpoint
		for j, d := range to {
			if d.Name == src.Name {
				continue
			}
			t := target{col: j, dst: d.Addr.Unmap()}
			if t.dst.Is6() {
				v6 = append(v6, t)
			} else {
				v4 = append(v4, t)
			}
			peers = append(peers, d)
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var fam sync.WaitGroup
			for _, ts := range [][]target{v4, v6} {
				if len(ts) > 0 {
					fam.Go(func() { fanOut(ctx, src.NS, ts, o.Opts, m.cells[i]) })
				}
			}
			fam.Wait()
			nb.release(src, peers)
		})
	}
	wg.Wait()
}

// target is one destination of a fan-out: its own echo identifier and
// token, as if it were a Ping of its own.
type target struct {
	col   int // its column in the source's row
	dst   netip.Addr
	to    *net.IPAddr
	id    int
	token []byte
	sent  map[int]time.Time
	seq   int
	tries int
	last  error // the last failure seen: a send error, an ICMP error
	reply *Reply
}

// fanOut pings every target from inside ns through one raw ICMP socket,
// under Ping's rules for each: a request every o.Interval until a reply
// (to any of its requests) or o.Timeout. A raw ICMP socket receives every
// reply that reaches its namespace, so one serves all targets, told apart
// by echo identifier and token. It writes each target's cell in row.
func fanOut(ctx context.Context, ns string, ts []target, o Opts, row []cell) {
	o = o.withDefaults()
	start := time.Now()
	s, err := openEcho(ns, ts[0].dst.Is6())
	if err != nil {
		for _, t := range ts {
			row[t.col] = cell{err: fmt.Errorf("ping %s from %s: %w", t.dst, ns, err)}
		}
		return
	}
	defer s.c.Close()
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	byID := map[int]*target{}
	for k := range ts {
		t := &ts[k]
		t.token = make([]byte, 16)
		rand.Read(t.token)
		t.sent = map[int]time.Time{}
		t.to, err = ipAddr(ns, t.dst)
		if err != nil {
			row[t.col] = cell{err: fmt.Errorf("ping %s from %s: %w", t.dst, ns, err)}
			continue
		}
		for t.id = int(uint16(pingID.Add(1))); byID[t.id] != nil; t.id = int(uint16(pingID.Add(1))) {
		}
		byID[t.id] = t
	}
	readErr := s.serve(ctx, byID, start.Add(o.Timeout), o.Interval)
	for _, t := range byID {
		what := fmt.Sprintf("ping %s from %s", t.dst, ns)
		switch {
		case t.reply != nil:
			row[t.col] = cell{reach: true, reply: *t.reply}
		case readErr != nil:
			row[t.col] = cell{err: fmt.Errorf("%s: read: %w", what, readErr)}
		default:
			row[t.col] = cell{err: deadlineOrCancel(ctx, what, "reply", o.Timeout, start, t.tries, t.last, nil)}
		}
	}
}

// serve sends each unanswered target a request every interval and reads
// replies and ICMP errors until every target is answered, the deadline
// passes or ctx ends. It returns an error only when the socket failed.
func (s *echoSocket) serve(ctx context.Context, byID map[int]*target, deadline time.Time, interval time.Duration) error {
	pending := len(byID)
	buf := make([]byte, 1500)
	next := time.Now()
	for pending > 0 && ctx.Err() == nil {
		now := time.Now()
		if !now.Before(deadline) {
			return nil
		}
		if !now.Before(next) {
			for _, t := range byID {
				if t.reply == nil {
					s.send(t, now)
				}
			}
			next = now.Add(interval)
		}
		s.c.SetReadDeadline(minTime(next, deadline))
		n, ttl, src, err := s.read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
				continue
			}
			return err
		}
		at := time.Now()
		msg, err := icmp.ParseMessage(s.proto(), buf[:n])
		if err != nil {
			continue
		}
		if echo, ok := msg.Body.(*icmp.Echo); ok && msg.Type == s.replyType() {
			t := byID[echo.ID]
			if t == nil || t.reply != nil || !bytes.Equal(echo.Data, t.token) {
				continue
			}
			if sent, ours := t.sent[echo.Seq]; ours {
				t.reply = &Reply{From: src, RTT: at.Sub(sent), TTL: ttl, Seq: echo.Seq, Tries: t.tries}
				pending--
			}
			continue
		}
		for _, t := range byID {
			if e := s.errorAbout(msg, t.dst, t.id, src); e != nil && t.reply == nil {
				t.last = e
				break
			}
		}
	}
	return nil
}

// send sends t its next echo request; a failure (no route yet) is kept as
// t's last error, and the next interval tries again.
func (s *echoSocket) send(t *target, now time.Time) {
	t.seq = (t.seq + 1) & 0xffff
	t.tries++
	msg := icmp.Message{Type: s.echoType(), Body: &icmp.Echo{ID: t.id, Seq: t.seq, Data: t.token}}
	b, err := msg.Marshal(nil) // IPv4: checksum here; IPv6: the kernel fills it
	if err == nil {
		_, err = s.c.WriteTo(b, t.to)
	}
	if err != nil {
		t.last = fmt.Errorf("send: %w", err)
		return
	}
	t.sent[t.seq] = now
}
