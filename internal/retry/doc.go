// Package retry is the one retry policy of redkit's loops that reconnect
// or wait: a delay that doubles from a first value up to a cap, a limit
// on how long an outage is retried, and a progress reset.
//
// # Contract
//
// A Retrier follows one outage at a time. Failed records a failure and
// returns the delay to wait before the next attempt: the first of an
// outage is Backoff.First, each next one twice the last, at most
// Backoff.Max. Progress (the attempt got somewhere: a reply came, the
// stream moved) ends the outage: the next failure starts a new one, from
// the first delay again, and the limit counts from it. Failed reports
// false once the outage has lasted longer than Limit (never with a zero
// Limit); the caller then gives up with an error of its own that says
// what it was retrying.
//
// The package knows nothing of errors: callers decide what is worth
// retrying, and log what they retry with their own words. There is no
// jitter: redkit's loops each talk to one server.
//
// Wait is the context-aware pause between attempts. A Retrier reads the
// time through its Now field (nil: time.Now), so tests drive it with a
// fake clock. A Retrier is not safe for concurrent use.
package retry
