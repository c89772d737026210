// Package probe checks reachability from inside a lab's namespaces: ICMP
// echo, TCP connect, UDP echo, HTTP GET and DNS queries, plus the small
// servers that answer them on the far side, and a reachability matrix:
// every source pings every destination (Run; Reachability for all pairs of
// one set), each source through one socket for all of its destinations, a
// bounded number of sources at once, every pair with its own deadline,
// retries and outcome.
//
// Every probe runs in-process. Its socket is created inside the namespace
// named by a pin path (/run/netns/<lab>-<host>, /run/netns/<lab>-<host>-<ctr>)
// through netns.Do, which enters the namespace on a throwaway thread; a
// socket belongs to the namespace it was created in, so all I/O then happens
// on ordinary goroutines. No thread of the caller ever changes namespace.
//
// Probes never flake: each one retries inside a total deadline (Opts.Timeout,
// default 5s), every try bounded by Opts.Try (default 1s) and separated by
// Opts.Interval (default 100ms). A probe that runs out of time returns a
// *DeadlineError (errors.Is(err, ErrDeadline)) saying what was tried, how
// long and how often, and the last failure seen. Anything else — a missing
// namespace, a cancelled context, bad input — is a different error, so a
// check that a path must fail (ExpectUnreachable, an unreachable cell of a
// Matrix) passes only when the whole deadline went by without an answer.
//
// Addresses are IP literals only: resolving a name would ask the machine's
// resolver, whose packets would leave the lab.
package probe
