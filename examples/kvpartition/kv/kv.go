// Package kv is a small key-value service over TCP, the service under test
// of this example: one request per line, "SET key value" is answered "OK",
// "GET key" "VALUE value" or "NONE".
package kv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Serve answers the connections of ln until it is closed.
func Serve(ln net.Listener) error {
	s := &store{m: map[string]string{}}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go s.serve(c)
	}
}

type store struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *store) serve(c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		fmt.Fprintln(c, s.answer(strings.SplitN(sc.Text(), " ", 3)))
	}
}

func (s *store) answer(f []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(f) == 3 && f[0] == "SET":
		s.m[f[1]] = f[2]
		return "OK"
	case len(f) == 2 && f[0] == "GET":
		if v, ok := s.m[f[1]]; ok {
			return "VALUE " + v
		}
		return "NONE"
	}
	return "ERR want SET key value or GET key"
}

// Client talks to a kv server over one connection, which it makes again
// after a failure. Every request has Timeout to be answered.
type Client struct {
	Dial    func(ctx context.Context) (net.Conn, error)
	Timeout time.Duration

	mu    sync.Mutex
	conn  net.Conn
	r     *bufio.Reader
	dials int
}

// Dials is how many connections the client has made: more than one means
// it reconnected.
func (c *Client) Dials() int { c.mu.Lock(); defer c.mu.Unlock(); return c.dials }

// Set stores value under key.
func (c *Client) Set(ctx context.Context, key, value string) error {
	reply, err := c.do(ctx, "SET "+key+" "+value)
	if err == nil && reply != "OK" {
		err = fmt.Errorf("kv: SET %s: %s", key, reply)
	}
	return err
}

// Get returns the value of key ("" and false when it has none).
func (c *Client) Get(ctx context.Context, key string) (string, bool, error) {
	reply, err := c.do(ctx, "GET "+key)
	if err != nil || reply == "NONE" {
		return "", false, err
	}
	v, ok := strings.CutPrefix(reply, "VALUE ")
	if !ok {
		return "", false, fmt.Errorf("kv: GET %s: %s", key, reply)
	}
	return v, true, nil
}

func (c *Client) do(ctx context.Context, line string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		dctx, cancel := context.WithTimeout(ctx, c.Timeout)
		defer cancel()
		conn, err := c.Dial(dctx)
		if err != nil {
			return "", fmt.Errorf("kv: connect: %w", err)
		}
		c.conn, c.r = conn, bufio.NewReader(conn)
		c.dials++
	}
	c.conn.SetDeadline(time.Now().Add(c.Timeout))
	_, err := fmt.Fprintln(c.conn, line)
	reply := ""
	if err == nil {
		reply, err = c.r.ReadString('\n')
	}
	if err != nil {
		// The connection may be half-used: start afresh next time.
		c.conn.Close()
		c.conn = nil
		return "", fmt.Errorf("kv: %s: %w", line, err)
	}
	return strings.TrimSpace(reply), nil
}

// Close closes the client's connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}
