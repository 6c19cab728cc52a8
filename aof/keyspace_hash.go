package aof

import (
	"bytes"
	"math"
	"strconv"

	"github.com/redkit/redkit/rdb"
)

// Hash commands (t_hash.c). Setting a field clears its expiry (hash
// field expiries come only from RDBs of Redis 7.4 and later).

func cmdHSet(c *cmd) error {
	if len(c.args)%2 != 0 {
		return rejectf("wrong number of arguments for '%s' command", bytes.ToLower(c.args[0]))
	}
	o, err := c.create(c.args[1], rdb.TypeHash)
	if err != nil {
		return err
	}
	for j := 2; j < len(c.args); j += 2 {
		o.hash[string(c.args[j])] = hashField{value: bytes.Clone(c.args[j+1]), expireAt: rdb.NoExpiry}
	}
	return nil
}

func cmdHSetNX(c *cmd) error {
	o, err := c.create(c.args[1], rdb.TypeHash)
	if err != nil {
		return err
	}
	if _, ok := o.hash[string(c.args[2])]; !ok {
		o.hash[string(c.args[2])] = hashField{value: bytes.Clone(c.args[3]), expireAt: rdb.NoExpiry}
	}
	return nil
}

func cmdHDel(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeHash)
	if err != nil || o == nil {
		return err
	}
	for _, f := range c.args[2:] {
		delete(o.hash, string(f))
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

func cmdHIncrBy(c *cmd) error {
	incr, err := argInt(c.args[3])
	if err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeHash)
	if err != nil {
		return err
	}
	var cur int64
	f := string(c.args[2])
	if o != nil {
		if v, ok := o.hash[f]; ok {
			n, ok := parseInt(v.value)
			if !ok {
				return rejectf("hash value is not an integer")
			}
			cur = n
		}
	}
	if incr < 0 && cur < 0 && incr < math.MinInt64-cur || incr > 0 && cur > 0 && incr > math.MaxInt64-cur {
		return rejectf("increment or decrement would overflow")
	}
	if o == nil {
		o, _ = c.create(c.args[1], rdb.TypeHash)
	}
	o.hash[f] = hashField{value: strconv.AppendInt(nil, cur+incr, 10), expireAt: rdb.NoExpiry}
	return nil
}

func cmdHIncrByFloat(c *cmd) error {
	incr, ok := parseLongDouble(c.args[3])
	if !ok {
		return rejectf("value is not a valid float")
	}
	o, err := c.lookupType(c.args[1], rdb.TypeHash)
	if err != nil {
		return err
	}
	cur, _ := parseLongDouble([]byte("0"))
	f := string(c.args[2])
	if o != nil {
		if v, ok := o.hash[f]; ok {
			if cur, ok = parseLongDouble(v.value); !ok {
				return rejectf("hash value is not a float")
			}
		}
	}
	sum, err := incrLongDouble(cur, incr)
	if err != nil {
		return err
	}
	if o == nil {
		o, _ = c.create(c.args[1], rdb.TypeHash)
	}
	o.hash[f] = hashField{value: formatLongDouble(sum), expireAt: rdb.NoExpiry}
	return nil
}
