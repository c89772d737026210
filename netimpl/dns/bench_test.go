package dns

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/netns/probe"
)

// BenchmarkResolve measures queries per second answered by the resolver
// from inside a container's namespace: several clients, each with its own
// UDP socket opened in that namespace, ask for local names (a container
// name, a shared alias, a short id; A and AAAA as a stub resolver does)
// one query at a time. The unit that matters is qps.
func BenchmarkResolve(b *testing.B) {
	nstest.NeedRoot(b)
	ns := nstest.NewNS(b, prefix, "bench")
	s, err := Start(ns, testTable(b), nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	benchQueries(b, ns, 8, 20000, []string{"web.", "backend.", "749bbbea2172."}, []uint16{mdns.TypeA, mdns.TypeAAAA})
}

// BenchmarkForward measures queries per second for names the table does
// not know, forwarded to an upstream in another namespace (informational:
// each forwarded query opens its socket inside the container's namespace).
func BenchmarkForward(b *testing.B) {
	a, _ := resolverLab(b, &upstreamDNS{})
	s, err := Start(a, testTable(b), []netip.AddrPort{upstream}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	benchQueries(b, a, 8, 2000, []string{"ext.example."}, []uint16{mdns.TypeA})
}

// benchQueries runs b.N batches of batch queries (names × types in turn)
// over `clients` UDP sockets opened in ns, each with one query in flight,
// and reports queries per second.
// One iteration is a whole batch, so that even `-benchtime 1x` gives a
// meaningful figure.
func benchQueries(b *testing.B, ns string, clients, batch int, names []string, qtypes []uint16) {
	var queries [][]byte
	for _, name := range names {
		for _, qt := range qtypes {
			_, wire := query(name, qt, 0, nil)
			queries = append(queries, wire)
		}
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := probe.DialContext(context.Background(), ns, "udp", Address.String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := askMany(c, queries, batch/clients); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "qps")
}

// askMany sends n queries on c one after the other, each with its own id,
// and checks that each is answered NOERROR.
func askMany(c net.Conn, queries [][]byte, n int) error {
	q := make([]byte, 512)
	buf := make([]byte, 512)
	c.SetDeadline(time.Now().Add(time.Minute))
	for i := 0; i < n; i++ {
		wire := queries[i%len(queries)]
		q = append(q[:0], wire...)
		id := uint16(i)
		binary.BigEndian.PutUint16(q, id)
		if _, err := c.Write(q); err != nil {
			return err
		}
		m, err := c.Read(buf)
		if err != nil {
			return err
		}
		if m < headerLen || binary.BigEndian.Uint16(buf) != id || buf[3]&0xF != mdns.RcodeSuccess {
			return fmt.Errorf("query %d: bad answer % x", i, buf[:m])
		}
	}
	return nil
}
