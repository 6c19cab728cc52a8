package sync

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/redkit/redkit/aof"
)

// Pipe sends the RESP commands r holds to the server as they are, while
// it reads their replies, as redis-cli --pipe does: nothing is parsed or
// copied on the way out, so the server, not redkit, sets the pace. An
// ECHO of a random token ends the stream: its reply says that every
// command before it was answered. onError gets each error reply's
// message, those inside an EXEC's reply included; errs counts them.
func (c *Conn) Pipe(r io.Reader, onError func(msg string)) (replies, errs int64, err error) {
	if c.err != nil {
		return 0, 0, c.err
	}
	var tok [20]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	written := make(chan error, 1)
	go func() {
		_, err := io.Copy(c.bw, r)
		if err == nil {
			err = c.w.WriteCommand([]byte("ECHO"), []byte(token))
		}
		if err == nil {
			err = c.bw.Flush()
		}
		if err != nil {
			c.nc.Close() // the reader stops too
		}
		written <- err
	}()
	fail := func(e error) (int64, int64, error) {
		c.err = fmt.Errorf("pipe to %s: %w", c.addr, e)
		c.nc.Close()
		<-written
		return replies, errs, c.err
	}
	for {
		if t := c.opts.readTimeout(); t > 0 {
			c.nc.SetReadDeadline(time.Now().Add(t))
		}
		v, err := c.r.ReadValue()
		if err != nil {
			select {
			case werr := <-written:
				if werr != nil {
					err = werr
				}
				written <- werr
			default:
			}
			return fail(err)
		}
		switch {
		case v.Kind == aof.Error || v.Kind == aof.BulkError:
			errs++
			onError(string(v.Str))
		case v.Kind == aof.BulkString && string(v.Str) == token:
			if err := <-written; err != nil {
				return replies, errs, err
			}
			return replies, errs, nil
		case v.Kind == aof.Array:
			for _, e := range v.Elems {
				if e.Kind == aof.Error || e.Kind == aof.BulkError {
					errs++
					onError(string(e.Str))
				}
			}
		}
		replies++
	}
}
