package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Opts bounds a probe. The zero value means the defaults.
type Opts struct {
	// Timeout is the total deadline of the probe (default 5s). A probe that
	// must fail waits for all of it.
	Timeout time.Duration
	// Interval is the pause between tries (default 100ms); for Ping it is
	// the gap between echo requests.
	Interval time.Duration
	// Try bounds one try (default 1s), never past the deadline. Ping does
	// not use it: a reply to any earlier request counts.
	Try time.Duration
}

const (
	DefaultTimeout  = 5 * time.Second
	DefaultInterval = 100 * time.Millisecond
	DefaultTry      = time.Second
)

func (o Opts) withDefaults() Opts {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Try <= 0 {
		o.Try = DefaultTry
	}
	return o
}

// ErrDeadline is what every *DeadlineError matches with errors.Is: each try
// failed until the probe's own deadline passed.
var ErrDeadline = errors.New("probe deadline passed")

// DeadlineError says that a probe got no answer for its whole deadline.
type DeadlineError struct {
	What    string        // "ping 10.0.0.3 from /run/netns/x"
	Want    string        // what never came: "reply", "connection", ...
	Timeout time.Duration // the deadline that passed
	Tries   int
	Last    error // the last failure seen, if any
	// Earlier is the last failure that was not a timeout, when Last is
	// one: a refusal says more than silence, and the kernel rate-limits
	// the ICMP errors behind refusals (6 at once, then 1/s per peer), so
	// the last tries of a probe often just time out.
	Earlier error
}

func (e *DeadlineError) Error() string {
	s := fmt.Sprintf("%s: no %s in %s (%d tries)", e.What, e.Want, e.Timeout, e.Tries)
	if e.Last != nil {
		s += "; last: " + e.Last.Error()
	}
	if e.Earlier != nil {
		s += "; before that: " + e.Earlier.Error()
	}
	return s
}

// Unwrap gives the failures to errors.Is and errors.As, for example
// errors.Is(err, syscall.ECONNREFUSED).
func (e *DeadlineError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Last, e.Earlier} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (e *DeadlineError) Is(target error) bool { return target == ErrDeadline }

// isTimeout says a try failed by running out of time, which says less about
// the path than a refusal does.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// permanentError marks a failure that another try cannot fix (no such
// namespace, bad input), so the probe stops at once instead of reporting it
// as a path that stayed silent.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	var p *permanentError
	if errors.As(err, &p) {
		return err
	}
	return &permanentError{err}
}

// attempt runs try until it succeeds, the deadline passes or ctx ends. Each
// try gets its own context bounded by o.Try and the deadline.
func attempt(ctx context.Context, o Opts, what, want string, try func(context.Context) error) error {
	o = o.withDefaults()
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tries := 0
	var last, earlier error
	for {
		tries++
		tctx, tcancel := context.WithTimeout(dctx, o.Try)
		err := try(tctx)
		tcancel()
		if err == nil {
			waitedForAnswer(start)
			return nil
		}
		var p *permanentError
		if errors.As(err, &p) {
			return fmt.Errorf("%s: %w", what, p.err)
		}
		if last != nil && !isTimeout(last) {
			earlier = last
		}
		last = err
		t := time.NewTimer(o.Interval)
		select {
		case <-dctx.Done():
			t.Stop()
			if !isTimeout(last) {
				earlier = nil
			}
			return deadlineOrCancel(ctx, what, want, o.Timeout, start, tries, last, earlier)
		case <-t.C:
		}
	}
}

// deadlineOrCancel tells the probe's own deadline apart from the caller's
// context ending first: only the former means "silent for the whole time".
func deadlineOrCancel(ctx context.Context, what, want string, timeout time.Duration, start time.Time, tries int, last, earlier error) error {
	if err := ctx.Err(); err != nil {
		if last != nil && !errors.Is(last, err) {
			return fmt.Errorf("%s: stopped after %s of %s (%d tries): %w; last: %v",
				what, time.Since(start).Round(time.Millisecond), timeout, tries, err, last)
		}
		return fmt.Errorf("%s: stopped after %s of %s (%d tries): %w",
			what, time.Since(start).Round(time.Millisecond), timeout, tries, err)
	}
	waitedInSilence(start)
	return &DeadlineError{What: what, Want: want, Timeout: timeout, Tries: tries, Last: last, Earlier: earlier}
}
