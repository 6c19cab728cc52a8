package sync

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
)

// Keyspace notifications (notify-keyspace-events): what a scan sync
// needs, how it reads and changes the setting, and the subscription.

// notifyClasses are the event classes a scan sync needs, all those that
// 'A' stands for: generic, string, list, set, hash, zset, expired,
// evicted, stream, module key type. 'K' (keyspace channels) comes with
// them.
const notifyClasses = "g$lshzxetd"

// NotifyError means the source does not send the keyspace notifications
// a scan sync needs, and redkit could not turn them on. Want is the
// exact value of notify-keyspace-events to set (Current with K and A
// added).
type NotifyError struct {
	Addr    string
	Current string // the value read, or "" when CONFIG is refused
	Want    string
	// Checked is false when nothing could tell whether notifications are
	// on: CONFIG is refused and so is writing the probe key.
	Checked bool
	Err     error // why CONFIG SET or the probe failed, if it did
}

func (e *NotifyError) Error() string {
	if !e.Checked {
		return fmt.Sprintf("%s: could not check keyspace notifications (CONFIG and writing a probe key are refused: %v); they must be on: notify-keyspace-events %s", e.Addr, e.Err, e.Want)
	}
	s := fmt.Sprintf("%s sends no keyspace notifications for every change (notify-keyspace-events is %q); set notify-keyspace-events %s", e.Addr, e.Current, e.Want)
	if e.Current == "" && e.Err != nil {
		s = fmt.Sprintf("%s sends no keyspace notifications (a probe key's write was not notified within %s); set notify-keyspace-events %s", e.Addr, probeWait, e.Want)
	}
	if e.Err != nil && e.Current != "" {
		s += " (CONFIG SET failed: " + e.Err.Error() + ")"
	}
	return s
}

// ErrNotifyUnchecked is wrapped by a NotifyError whose Checked is false.
var ErrNotifyUnchecked = errors.New("keyspace notifications could not be checked")

func (e *NotifyError) Unwrap() error {
	if !e.Checked {
		return ErrNotifyUnchecked
	}
	return nil
}

// notifyFlags parses a notify-keyspace-events value into its set of
// characters, 'A' expanded.
func notifyFlags(v string) map[byte]bool {
	m := map[byte]bool{}
	for i := 0; i < len(v); i++ {
		if v[i] == 'A' {
			for j := 0; j < len(notifyClasses); j++ {
				m[notifyClasses[j]] = true
			}
			continue
		}
		m[v[i]] = true
	}
	return m
}

// notifyEnough tells whether v sends every event a scan sync needs.
func notifyEnough(v string) bool {
	m := notifyFlags(v)
	if !m['K'] {
		return false
	}
	for i := 0; i < len(notifyClasses); i++ {
		if !m[notifyClasses[i]] {
			return false
		}
	}
	return true
}

// notifyWant is v with what a scan sync needs added, written as Redis
// writes it back: "A", then K, E and the rest of v's flags (m, n).
func notifyWant(v string) string {
	m := notifyFlags(v)
	out := []byte("AK")
	if m['E'] {
		out = append(out, 'E')
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == 'A' || c == 'K' || c == 'E' || strings.IndexByte(notifyClasses, c) >= 0 || bytes.IndexByte(out, c) >= 0 {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// probeWait is how long the probe waits for its key's notification.
const probeWait = time.Second

// ProbePrefix starts the name of the key a scan sync writes (and
// deletes at once) to see whether the source notifies changes, when
// CONFIG is refused. Keys with this prefix are never copied.
const ProbePrefix = "redkit:probe:"

// subscription is a connection subscribed to every keyspace channel of
// one server (PSUBSCRIBE __keyspace@*__:*). Its goroutine reads the
// notifications and hands each (db, key) to onKey until the connection
// fails; then lost is closed and err says why.
type subscription struct {
	c     *Conn
	onKey func(db int, key []byte)
	lost  chan struct{}
	err   error

	wmu      gosync.Mutex // PINGs from the keeper, written to c.nc directly
	stopKeep chan struct{}

	probeMu   gosync.Mutex
	probeKey  []byte
	probeSeen chan struct{}
	received  atomic.Int64
}

// subscribePing is how often the subscription is pinged; a connection
// silent for three times that is taken as lost.
const subscribePing = 2 * time.Second

var pingCmd = aof.AppendCommand(nil, []byte("PING"))

// subscribe connects to addr and subscribes to its keyspace channels.
func subscribe(ctx context.Context, addr string, opts Options, onKey func(db int, key []byte)) (*subscription, error) {
	opts.DB = 0
	opts.ReadTimeout = 3 * subscribePing
	opts.Name = "redkit-scan-sync"
	c, err := Dial(ctx, addr, &opts)
	if err != nil {
		return nil, err
	}
	v, err := c.DoString("PSUBSCRIBE", "__keyspace@*__:*")
	if err == nil && (v.Kind != aof.Array && v.Kind != aof.Push || len(v.Elems) < 1 || !bytes.EqualFold(v.Elems[0].Str, []byte("psubscribe"))) {
		err = fmt.Errorf("%w: PSUBSCRIBE reply of kind %c", ErrBadHandshake, v.Kind)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribe to the keyspace notifications of %s: %w", addr, err)
	}
	s := &subscription{c: c, onKey: onKey, lost: make(chan struct{}), stopKeep: make(chan struct{})}
	go s.keep()
	go s.read()
	return s, nil
}

// keep pings the connection so that a silent one can be told from a
// dead one.
func (s *subscription) keep() {
	t := time.NewTicker(subscribePing)
	defer t.Stop()
	for {
		select {
		case <-s.stopKeep:
			return
		case <-t.C:
			s.wmu.Lock()
			s.c.nc.SetWriteDeadline(time.Now().Add(subscribePing))
			_, err := s.c.nc.Write(pingCmd)
			s.wmu.Unlock()
			if err != nil {
				return // read fails too
			}
		}
	}
}

func (s *subscription) read() {
	defer close(s.lost)
	defer close(s.stopKeep)
	for {
		v, err := s.c.Receive()
		if err != nil {
			if s.c.Err() != nil {
				s.err = err
				return
			}
			continue // an error reply: not a notification
		}
		if len(v.Elems) != 4 || !bytes.Equal(v.Elems[0].Str, []byte("pmessage")) {
			continue // pong, or the subscription's confirmation
		}
		db, key, ok := parseKeyspaceChannel(v.Elems[2].Str)
		if !ok {
			continue
		}
		if bytes.HasPrefix(key, []byte(ProbePrefix)) {
			s.probeMu.Lock()
			if s.probeKey != nil && bytes.Equal(key, s.probeKey) {
				close(s.probeSeen)
				s.probeKey = nil
			}
			s.probeMu.Unlock()
			continue
		}
		s.received.Add(1)
		s.onKey(db, key)
	}
}

// close ends the subscription and waits for its goroutine.
func (s *subscription) close() {
	s.c.nc.Close() // not c.Close: the read goroutine owns c
	<-s.lost
}

// parseKeyspaceChannel splits __keyspace@<db>__:<key>.
func parseKeyspaceChannel(ch []byte) (db int, key []byte, ok bool) {
	rest, found := bytes.CutPrefix(ch, []byte("__keyspace@"))
	if !found {
		return 0, nil, false
	}
	i := bytes.Index(rest, []byte("__:"))
	if i < 0 {
		return 0, nil, false
	}
	db, err := strconv.Atoi(string(rest[:i]))
	if err != nil {
		return 0, nil, false
	}
	return db, bytes.Clone(rest[i+3:]), true
}

// notifySetting is what was found of one server's notify-keyspace-events
// and what redkit changed.
type notifySetting struct {
	old     string // the value before, when CONFIG GET answered
	set     bool   // redkit set it and must put old back
	config  bool   // CONFIG GET answered
	checked bool   // notifications are known to be on
}

// readNotify reads notify-keyspace-events and, when it lacks classes a
// scan sync needs, sets the union. It fails with a *NotifyError when
// CONFIG GET answers and CONFIG SET fails; when CONFIG is refused, the
// caller probes.
func readNotify(c *Conn) (notifySetting, error) {
	var ns notifySetting
	v, err := c.DoString("CONFIG", "GET", "notify-keyspace-events")
	if err != nil {
		if c.Err() != nil {
			return ns, err
		}
		return ns, nil // refused: probe
	}
	if len(v.Elems) < 2 {
		return ns, nil // a proxy's empty answer: probe
	}
	ns.config, ns.old = true, string(v.Elems[1].Str)
	if notifyEnough(ns.old) {
		ns.checked = true
		return ns, nil
	}
	want := notifyWant(ns.old)
	if _, err := c.DoString("CONFIG", "SET", "notify-keyspace-events", want); err != nil {
		if c.Err() != nil {
			return ns, err
		}
		return ns, &NotifyError{Addr: c.Addr(), Current: ns.old, Want: want, Checked: true, Err: err}
	}
	ns.set, ns.checked = true, true
	return ns, nil
}

// restoreNotify puts back the value readNotify replaced.
func restoreNotify(ctx context.Context, addr string, opts Options, ns notifySetting) error {
	if !ns.set {
		return nil
	}
	opts.DB = 0
	c, err := Dial(ctx, addr, &opts)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.DoString("CONFIG", "SET", "notify-keyspace-events", ns.old)
	return err
}

// probe writes a key named ProbePrefix+random (on the slot of slots, on
// a cluster node) with a short expiry, waits up to probeWait for its
// notification on s, and deletes it. It returns whether the notification
// came, or the error of the write (a read-only user's NOPERM, say).
func probe(c *Conn, s *subscription, cluster func(key []byte) bool) (bool, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	key := []byte(ProbePrefix + hex.EncodeToString(rnd[:]))
	if cluster != nil {
		// A hash tag that lands on this node's slots.
		for i := 0; i < 1<<20 && !cluster(key); i++ {
			key = fmt.Appendf(nil, "%s%s{%d}", ProbePrefix, hex.EncodeToString(rnd[:]), i)
		}
	}
	seen := make(chan struct{})
	s.probeMu.Lock()
	s.probeKey, s.probeSeen = key, seen
	s.probeMu.Unlock()
	defer func() {
		s.probeMu.Lock()
		s.probeKey = nil
		s.probeMu.Unlock()
	}()
	if _, err := c.Do([]byte("SET"), key, []byte("1"), []byte("PX"), []byte("10000")); err != nil {
		return false, err
	}
	defer c.Do([]byte("DEL"), key)
	t := time.NewTimer(probeWait)
	defer t.Stop()
	select {
	case <-seen:
		return true, nil
	case <-s.lost:
		return false, s.err
	case <-t.C:
		return false, nil
	}
}
