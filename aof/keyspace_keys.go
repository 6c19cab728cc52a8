package aof

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/redkit/redkit/rdb"
)

// Generic key commands (db.c, expire.c, cluster.c's RESTORE).

func cmdDel(c *cmd) error {
	for _, k := range c.args[1:] {
		c.del(k)
	}
	return nil
}

var errExpireTime = rejectf("invalid expire time")

// cmdExpire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT with NX, XX, GT
// and LT. While loading, Redis never deletes a key for an expiry in the
// past: it sets it.
func cmdExpire(c *cmd) error {
	name := c.args[0]
	var nx, xx, gt, lt bool
	for _, a := range c.args[3:] {
		switch {
		case ascii(a, "nx"):
			nx = true
		case ascii(a, "xx"):
			xx = true
		case ascii(a, "gt"):
			gt = true
		case ascii(a, "lt"):
			lt = true
		default:
			return rejectf("unsupported option %q", a)
		}
	}
	if nx && (xx || gt || lt) {
		return rejectf("NX and XX, GT or LT options at the same time are not compatible")
	}
	if gt && lt {
		return rejectf("GT and LT options at the same time are not compatible")
	}
	when, err := argInt(c.args[2])
	if err != nil {
		return err
	}
	seconds := ascii(name, "expire") || ascii(name, "expireat")
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			return errExpireTime
		}
		when *= 1000
	}
	if ascii(name, "expire") || ascii(name, "pexpire") {
		base, err := c.now()
		if err != nil {
			return err
		}
		if when > math.MaxInt64-base {
			return errExpireTime
		}
		when += base
	}
	o := c.lookup(c.args[1])
	if o == nil {
		return nil
	}
	cur := o.expireAt
	switch {
	case nx && cur != rdb.NoExpiry, xx && cur == rdb.NoExpiry,
		gt && (cur == rdb.NoExpiry || when <= cur), lt && cur != rdb.NoExpiry && when >= cur:
		return nil
	}
	o.expireAt = when
	return nil
}

func cmdPersist(c *cmd) error {
	if o := c.lookup(c.args[1]); o != nil {
		o.expireAt = rdb.NoExpiry
	}
	return nil
}

func cmdRename(c *cmd) error {
	src, dst := c.args[1], c.args[2]
	o := c.lookup(src)
	if o == nil {
		return rejectf("no such key")
	}
	if bytes.Equal(src, dst) {
		return nil
	}
	if ascii(c.args[0], "renamenx") && c.lookup(dst) != nil {
		return nil
	}
	c.del(src)
	c.set(dst, o)
	return nil
}

func argDB(b []byte) (int, error) {
	n, ok := parseInt(b)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, rejectf("value is out of range")
	}
	if n < 0 || n > maxDB {
		return 0, rejectf("DB index is out of range")
	}
	return int(n), nil
}

// maxDB bounds database numbers (Redis allows databases-1, 15 by
// default); the model accepts any a server could be configured with.
const maxDB = 1<<20 - 1

func cmdMove(c *cmd) error {
	dst, err := argDB(c.args[2])
	if err != nil {
		return err
	}
	if dst == c.db {
		return rejectf("source and destination objects are the same")
	}
	o := c.lookup(c.args[1])
	if o == nil {
		return nil
	}
	d := c.k.db(dst)
	if d[string(c.args[1])] != nil {
		return nil
	}
	c.del(c.args[1])
	d[string(c.args[1])] = o
	return nil
}

func cmdCopy(c *cmd) error {
	dstDB, replace := c.db, false
	for i := 3; i < len(c.args); i++ {
		switch {
		case ascii(c.args[i], "replace"):
			replace = true
		case ascii(c.args[i], "db") && i+1 < len(c.args):
			n, err := argDB(c.args[i+1])
			if err != nil {
				return err
			}
			dstDB = n
			i++
		default:
			return errSyntax
		}
	}
	src, dst := c.args[1], c.args[2]
	if dstDB == c.db && bytes.Equal(src, dst) {
		return rejectf("source and destination objects are the same")
	}
	o := c.lookup(src)
	if o == nil {
		return nil
	}
	d := c.k.db(dstDB)
	if d[string(dst)] != nil && !replace {
		return nil
	}
	d[string(dst)] = o.clone()
	return nil
}

func cmdSwapDB(c *cmd) error {
	a, err := argDB(c.args[1])
	if err != nil {
		return rejectf("invalid first DB index")
	}
	b, err := argDB(c.args[2])
	if err != nil {
		return rejectf("invalid second DB index")
	}
	c.k.dbs[a], c.k.dbs[b] = c.k.dbs[b], c.k.dbs[a]
	return nil
}

func flushArgs(c *cmd) error {
	if len(c.args) > 2 || len(c.args) == 2 && !ascii(c.args[1], "sync") && !ascii(c.args[1], "async") {
		return errSyntax
	}
	return nil
}

func cmdFlushDB(c *cmd) error {
	if err := flushArgs(c); err != nil {
		return err
	}
	delete(c.k.dbs, c.db)
	return nil
}

// cmdFlushAll empties every database. Functions stay, as in Redis.
func cmdFlushAll(c *cmd) error {
	if err := flushArgs(c); err != nil {
		return err
	}
	c.k.dbs = map[int]map[string]*object{}
	return nil
}

// cmdRestore decodes the DUMP payload with package rdb, wrapping it in a
// one-key RDB stream. The payload's CRC64 is not checked: the value's
// structure is.
func cmdRestore(c *cmd) error {
	var replace, absttl bool
	idle, freq := int64(-1), int64(-1)
	for j := 4; j < len(c.args); j++ {
		more := len(c.args) - j - 1
		switch a := c.args[j]; {
		case ascii(a, "replace"):
			replace = true
		case ascii(a, "absttl"):
			absttl = true
		case ascii(a, "idletime") && more >= 1 && freq == -1:
			n, err := argInt(c.args[j+1])
			if err != nil {
				return err
			}
			if n < 0 {
				return rejectf("Invalid IDLETIME value, must be >= 0")
			}
			idle = n
			j++
		case ascii(a, "freq") && more >= 1 && idle == -1:
			n, err := argInt(c.args[j+1])
			if err != nil {
				return err
			}
			if n < 0 || n > 255 {
				return rejectf("Invalid FREQ value, must be >= 0 and <= 255")
			}
			freq = n
			j++
		default:
			return errSyntax
		}
	}
	key := c.args[1]
	if !replace && c.lookup(key) != nil {
		return rejectf("BUSYKEY Target key name already exists.")
	}
	ttl, err := argInt(c.args[2])
	if err != nil {
		return err
	}
	if ttl < 0 {
		return rejectf("Invalid TTL value, must be >= 0")
	}
	o, err := decodeDump(key, c.args[3])
	if err != nil {
		return err
	}
	if ttl != 0 && !absttl {
		now, err := c.now()
		if err != nil {
			return err
		}
		ttl += now
	}
	o.expireAt = rdb.NoExpiry
	if ttl != 0 {
		o.expireAt = ttl
	}
	o.idle, o.freq = idle, int(freq)
	if o.typ != rdb.TypeStream && o.empty() {
		return rejectf("Bad data format")
	}
	c.set(key, o)
	return nil
}

// decodeDump reads a DUMP payload (type byte, value, RDB version, CRC64,
// which Redis checks too) into an object.
func decodeDump(key, payload []byte) (*object, error) {
	if len(payload) < 11 {
		return nil, rejectf("DUMP payload version or checksum are wrong")
	}
	var o *object
	err := rdb.DecodeDump(key, payload, func(kv *rdb.KeyValue) error {
		var err error
		o, err = loadObject(kv)
		return err
	})
	switch {
	case err == nil:
		return o, nil
	case errors.Is(err, ErrUnsupportedCommand):
		return nil, fmt.Errorf("RESTORE payload: %w", err)
	case errors.Is(err, rdb.ErrUnsupportedType):
		return nil, unsupportedf("RESTORE payload: %v", err)
	case errors.Is(err, rdb.ErrChecksum), errors.Is(err, rdb.ErrUnsupportedVersion):
		return nil, rejectf("DUMP payload version or checksum are wrong")
	default:
		return nil, rejectf("Bad data format: %v", err)
	}
}
