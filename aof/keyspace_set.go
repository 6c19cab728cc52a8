package aof

import (
	"github.com/redkit/redkit/rdb"
)

// Set commands (t_set.c).

func cmdSAdd(c *cmd) error {
	o, err := c.create(c.args[1], rdb.TypeSet)
	if err != nil {
		return err
	}
	for _, m := range c.args[2:] {
		o.set[string(m)] = struct{}{}
	}
	return nil
}

func cmdSRem(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeSet)
	if err != nil || o == nil {
		return err
	}
	for _, m := range c.args[2:] {
		delete(o.set, string(m))
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

func cmdSMove(c *cmd) error {
	src := c.lookup(c.args[1])
	dst := c.lookup(c.args[2])
	if src == nil {
		return nil
	}
	if src.typ != rdb.TypeSet || dst != nil && dst.typ != rdb.TypeSet {
		return errWrongType
	}
	if src == dst {
		return nil
	}
	m := string(c.args[3])
	if _, ok := src.set[m]; !ok {
		return nil
	}
	delete(src.set, m)
	c.dropIfEmpty(c.args[1], src)
	dst, _ = c.create(c.args[2], rdb.TypeSet)
	dst.set[m] = struct{}{}
	return nil
}

// cmdSPop replays only the SPOPs whose result does not depend on chance:
// popping every member. Redis 7 propagates SPOP as SREM or DEL.
func cmdSPop(c *cmd) error {
	count, err := popCount(c)
	if err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeSet)
	if err != nil || o == nil || count == 0 {
		return err
	}
	if count < int64(len(o.set)) {
		return unsupportedf("SPOP of %d of %d members picks them at random", count, len(o.set))
	}
	c.del(c.args[1])
	return nil
}

// cmdSStore is SINTERSTORE, SUNIONSTORE and SDIFFSTORE.
func cmdSStore(c *cmd) error {
	name := c.args[0]
	srcs := make([]*object, 0, len(c.args)-2)
	for _, k := range c.args[2:] {
		o, err := c.lookupType(k, rdb.TypeSet)
		if err != nil {
			return err
		}
		srcs = append(srcs, o)
	}
	res := map[string]struct{}{}
	switch {
	case ascii(name, "sinterstore"):
		for _, s := range srcs {
			if s == nil {
				res = nil
				break
			}
		}
		if res != nil {
			for m := range srcs[0].set {
				in := true
				for _, s := range srcs[1:] {
					if _, ok := s.set[m]; !ok {
						in = false
						break
					}
				}
				if in {
					res[m] = struct{}{}
				}
			}
		}
	case ascii(name, "sunionstore"):
		for _, s := range srcs {
			if s != nil {
				for m := range s.set {
					res[m] = struct{}{}
				}
			}
		}
	default:
		if srcs[0] != nil {
			for m := range srcs[0].set {
				res[m] = struct{}{}
			}
			for _, s := range srcs[1:] {
				if s != nil {
					for m := range s.set {
						delete(res, m)
					}
				}
			}
		}
	}
	c.del(c.args[1])
	if len(res) > 0 {
		o := newObject(rdb.TypeSet)
		o.set = res
		c.set(c.args[1], o)
	}
	return nil
}
