package aof

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/redkit/redkit/rdb"
)

// Hash commands (t_hash.c, Redis 7.4). HSET, HMSET and HSETNX's new
// field clear a field's expiry; HINCRBY and HINCRBYFLOAT keep it.

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
	o.hash[f] = hashField{value: strconv.AppendInt(nil, cur+incr, 10), expireAt: o.fieldExpiry(f)}
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
	o.hash[f] = hashField{value: formatLongDouble(sum), expireAt: o.fieldExpiry(f)}
	return nil
}

// fieldExpiry is the expiry of a hash field, NoExpiry if it has none or
// does not exist.
func (o *object) fieldExpiry(f string) int64 {
	if v, ok := o.hash[f]; ok {
		return v.expireAt
	}
	return rdb.NoExpiry
}

// maxFieldExpiry is HFE_MAX_ABS_TIME_MSEC, the latest field expiry Redis
// takes: EB_EXPIRE_TIME_MAX >> 2.
const maxFieldExpiry = (1<<48 - 1) >> 2

// fieldArgs checks "FIELDS numfields field..." starting at args[at] and
// returns the fields.
func fieldArgs(args [][]byte, at int) ([][]byte, error) {
	if at >= len(args) || !strings.EqualFold(string(args[at]), "fields") {
		return nil, rejectf("Mandatory argument FIELDS is missing or not at the right position")
	}
	if at+1 >= len(args) {
		return nil, rejectf("wrong number of arguments")
	}
	n, ok := parseInt(args[at+1])
	if !ok || n < 1 {
		return nil, rejectf("Parameter `numFields` should be greater than 0")
	}
	if n != int64(len(args)-at-2) {
		return nil, rejectf("The `numfields` parameter must match the number of arguments")
	}
	return args[at+2:], nil
}

// cmdHExpire is HEXPIRE, HPEXPIRE, HEXPIREAT and HPEXPIREAT key time
// [NX|XX|GT|LT] FIELDS numfields field... Redis 7.4 propagates all four
// as HPEXPIREAT with an absolute time in ms. As Redis does while it
// loads, an expiry in the past is set, not turned into a deletion: the
// master already sent the HDEL for that.
func cmdHExpire(c *cmd) error {
	name := strings.ToLower(string(c.args[0]))
	o, err := c.lookupType(c.args[1], rdb.TypeHash)
	if err != nil {
		return err
	}
	t, ok := parseInt(c.args[2])
	if !ok {
		return errNotInt
	}
	if t < 0 {
		return rejectf("invalid expire time, must be >= 0")
	}
	if name == "hexpire" || name == "hexpireat" {
		if t > maxFieldExpiry/1000 {
			return rejectf("invalid expire time in '%s' command", name)
		}
		t *= 1000
	}
	var base int64
	if name == "hexpire" || name == "hpexpire" {
		if base, err = c.now(); err != nil {
			return err
		}
	}
	if t > maxFieldExpiry-base {
		return rejectf("invalid expire time in '%s' command", name)
	}
	t += base
	cond, at := "", 3
	if len(c.args) > 3 {
		switch s := strings.ToLower(string(c.args[3])); s {
		case "nx", "xx", "gt", "lt":
			cond, at = s, 4
		}
	}
	fields, err := fieldArgs(c.args, at)
	if err != nil || o == nil {
		return err
	}
	for _, f := range fields {
		v, ok := o.hash[string(f)]
		if !ok {
			continue
		}
		prev := v.expireAt
		if prev == rdb.NoExpiry {
			if cond == "xx" || cond == "gt" { // no expiry counts as infinite
				continue
			}
		} else if cond == "nx" || cond == "gt" && prev >= t || cond == "lt" && prev <= t {
			continue
		}
		v.expireAt = t
		o.hash[string(f)] = v
	}
	return nil
}

// cmdHPersist is HPERSIST key FIELDS numfields field...: it removes the
// fields' expiries. Redis propagates it only when it removed one, so it
// is applied whatever the time now.
func cmdHPersist(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeHash)
	if err != nil {
		return err
	}
	fields, err := fieldArgs(c.args, 2)
	if err != nil || o == nil {
		return err
	}
	for _, f := range fields {
		if v, ok := o.hash[string(f)]; ok {
			v.expireAt = rdb.NoExpiry
			o.hash[string(f)] = v
		}
	}
	return nil
}
